//! Rendering of actions to the exact Kubernetes requests they send (apply and revert).
