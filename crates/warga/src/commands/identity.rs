//! Identity's commands: `admin department|officer|client create` and `admin keys rotate`.

use warga_config::Config;

use crate::cli::{AdminCommand, ClientCommand, DepartmentCommand, KeysCommand, OfficerCommand};
use crate::failure::Failure;

/// The actor of changes made from the command line, in the audit log.
const CLI_ACTOR: &str = "system:cli";

fn parse_roles(names: &[String]) -> Result<Vec<warga_core::identity::Role>, Failure> {
    names
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|e: warga_core::identity::UnknownRole| Failure::usage_msg(format!("--role: {e}")))
        })
        .collect()
}

/// An identity error as a one-line CLI failure: bad input (naming the field) is the
/// operator's to fix, exit code 2.
fn identity_failure(error: warga_identity::IdentityError) -> Failure {
    match error {
        warga_identity::IdentityError::Invalid { .. } => Failure::usage(error),
        other => Failure::from(other),
    }
}

/// `warga admin …`.
pub async fn admin(config: Config, command: AdminCommand) -> Result<(), Failure> {
    match command {
        AdminCommand::Department(DepartmentCommand::Create { id, name }) => {
            let store = warga_app::services::open_store(&config).await.map_err(Failure::app)?;
            let mut tx = store.begin().await?;
            warga_identity::accounts::create_department(&mut tx, &id, &name, CLI_ACTOR)
                .await
                .map_err(identity_failure)?;
            tx.commit().await?;
            println!("departemen dibuat / department created: {}", id.trim().to_lowercase());
        }
        AdminCommand::Officer(OfficerCommand::Create {
            username,
            display_name,
            department,
            level,
            roles,
            msp_id,
            facility,
            email,
        }) => {
            let level = level
                .map(|l| l.parse::<warga_core::identity::OfficerLevel>())
                .transpose()
                .map_err(|e| Failure::usage_msg(format!("--level: {e}")))?;
            let roles = parse_roles(&roles)?;
            let platform = warga_app::open_platform(config).await.map_err(Failure::app)?;
            let created = warga_identity::create_officer_account(
                &platform,
                warga_identity::NewOfficer {
                    username,
                    display_name,
                    email,
                    password: None,
                    roles,
                    department,
                    level,
                    msp_id,
                    facility,
                },
                CLI_ACTOR,
            )
            .await
            .map_err(identity_failure)?;
            println!(
                "petugas dibuat / officer created: {} ({})",
                created.account.username, created.account.id
            );
            if let Some(password) = created.one_time_password {
                println!("kata sandi sekali pakai / one-time password: {password}");
            }
        }
        AdminCommand::Client(ClientCommand::Create {
            client_id,
            name,
            confidential,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            service_roles,
        }) => {
            let service_roles = parse_roles(&service_roles)?;
            let store = warga_app::services::open_store(&config).await.map_err(Failure::app)?;
            let mut tx = store.begin().await?;
            let registered = warga_identity::clients::create(
                &mut tx,
                warga_identity::clients::NewClient {
                    client_id,
                    name,
                    confidential,
                    redirect_uris,
                    post_logout_redirect_uris,
                    grant_types: grants,
                    service_roles,
                },
                CLI_ACTOR,
            )
            .await
            .map_err(identity_failure)?;
            tx.commit().await?;
            println!("klien terdaftar / client registered: {}", registered.client_id);
            if let Some(secret) = registered.client_secret {
                println!("client secret (shown once): {secret}");
            }
        }
        AdminCommand::Keys(KeysCommand::Rotate) => {
            let platform = warga_app::open_platform(config).await.map_err(Failure::app)?;
            let local = platform
                .auth
                .local
                .as_ref()
                .ok_or_else(|| Failure::usage_msg("tokens come from an external issuer (identity.issuer)"))?;
            let kid = local.keyring.rotate().await?;
            println!("kunci baru / new signing key: {kid}");
        }
    }
    Ok(())
}
