//! Scale: read the `/scale` subresource, patch it within the playbook's bound,
//! and on revert put the previous count back.

use super::send::{send, unexpected};
use super::{ExecError, Outcome, Sent, Undo, send_all};
use crate::act::render::{self, RenderContext, Request};
use crate::playbook::model::{ActionKind, Scale, ScaleTo};

/// Reads the current count and fixes the target: the undo an apply records.
pub(super) async fn prepare(
    client: &kube::Client,
    scale: &Scale,
    ctx: &RenderContext<'_>,
) -> Result<(Sent, Undo), ExecError> {
    let (current, read) = replicas(client, ctx).await?;
    let target = match scale.to {
        ScaleTo::Replicas(n) => n.min(scale.max),
        // Scaling out never scales in, even when already above `max`.
        ScaleTo::Add(n) => current.saturating_add(n).min(scale.max).max(current),
    };
    let undo = Undo::Scale {
        previous: current,
        target,
    };
    Ok((read, undo))
}

pub(super) async fn apply(
    client: &kube::Client,
    scale: &Scale,
    ctx: &RenderContext<'_>,
    undo: Option<&Undo>,
) -> Result<Outcome, ExecError> {
    // A repeat sets the target recorded the first time: `add` must not add twice.
    let (mut sent, undo) = match undo {
        Some(undo @ Undo::Scale { .. }) => (Vec::new(), undo.clone()),
        _ => {
            let (read, undo) = prepare(client, scale, ctx).await?;
            (vec![read], undo)
        }
    };
    let Undo::Scale { previous, target } = undo else {
        return Err(ExecError::NothingRendered("scale"));
    };
    let note = if target == previous {
        format!("already at {previous} replicas")
    } else {
        sent.extend(send_all(client, &[patch(ctx, target)?]).await?);
        format!("scaled from {previous} to {target} replicas")
    };
    Ok(Outcome {
        sent,
        undo: Some(undo),
        note: Some(note),
        ..Outcome::default()
    })
}

/// Restores the recorded count only if the replicas are still what the apply
/// set: an autoscaler or a person who changed them since knows better, and
/// Firebreak does not fight them.
pub(super) async fn revert(
    client: &kube::Client,
    scale: &Scale,
    ctx: &RenderContext<'_>,
    undo: Option<&Undo>,
) -> Result<Outcome, ExecError> {
    let Some(Undo::Scale { previous, target }) = undo else {
        return Ok(Outcome {
            note: Some("no replica count was recorded at apply; left as is".to_owned()),
            ..Outcome::default()
        });
    };
    let (current, read) = replicas(client, ctx).await?;
    let mut sent = vec![read];
    let note = if current != *target {
        format!("replicas changed since the apply (set {target}, now {current}); left as is")
    } else if current == *previous {
        format!("already at {previous} replicas")
    } else {
        let ctx = RenderContext {
            current_replicas: Some(*previous),
            ..*ctx
        };
        let requests = render::render_revert(&ActionKind::Scale(*scale), &ctx)?;
        let requests: Vec<Request> = requests
            .into_iter()
            .map(|r| Request { note: None, ..r })
            .collect();
        sent.extend(send_all(client, &requests).await?);
        format!("scaled back from {current} to {previous} replicas")
    };
    Ok(Outcome {
        sent,
        note: Some(note),
        ..Outcome::default()
    })
}

/// The rendered patch setting `replicas` exactly.
fn patch(ctx: &RenderContext<'_>, replicas: u32) -> Result<Request, ExecError> {
    let exact = ActionKind::Scale(Scale {
        to: ScaleTo::Replicas(replicas),
        max: replicas,
    });
    let request = render::render_apply(&exact, ctx)?
        .into_iter()
        .next()
        .ok_or(ExecError::NothingRendered("scale"))?;
    Ok(Request {
        note: None,
        ..request
    })
}

/// `spec.replicas` of the `/scale` subresource (absent means 0).
async fn replicas(
    client: &kube::Client,
    ctx: &RenderContext<'_>,
) -> Result<(u32, Sent), ExecError> {
    let path = patch(ctx, 0)?.path;
    let path = path.split_once('?').map_or(path.as_str(), |(p, _)| p);
    let get = Request::get(path.to_owned());
    let (answer, sent) = send(client, &get).await?;
    let replicas = match answer["spec"]["replicas"].as_u64() {
        Some(n) => u32::try_from(n).map_err(|e| unexpected(&get, e))?,
        None => 0,
    };
    Ok((replicas, sent))
}
