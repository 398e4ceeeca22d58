use anyhow::Result;
use kube::CustomResourceExt;

fn main() -> Result<()> {
    print!("{}", serde_saphyr::to_string(&firebreak::playbook::Playbook::crd())?);
    Ok(())
}
