//! Print the SealedSecret CRD as YAML (the file committed under charts/sealed-secrets/crds/).

fn main() -> std::process::ExitCode {
    match common::crd::crd_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
