//! CustomResourceDefinitions generated from the Rust types (`firebreak crd`).

use kube::CustomResourceExt;

use crate::incident::resource::Incident;
use crate::playbook::Playbook;

/// All CRDs as one YAML stream, in a stable order.
pub fn render_all() -> Result<String, serde_saphyr::SerializeError> {
    let crds = [Playbook::crd(), Incident::crd()];
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
