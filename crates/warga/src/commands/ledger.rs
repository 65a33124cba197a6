//! The ledger's commands: `ledger …` (network files, crypto material, the client calls,
//! a local network of processes), `ca …`, and the node processes `orderer` and `peer`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use warga_ledger_node::render;

use crate::cli::{CaClient, CaCommand, CaOrg, CryptoCommand, LedgerCommand, NetworkCommand};
use crate::failure::{Failure, start_logging};

/// How long a call to a CA may take.
const CA_TIMEOUT: Duration = Duration::from_secs(30);

fn read_network(file: &Path) -> Result<warga_ledger_core::network::Network, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(anyhow::anyhow!("cannot read {}: {e}", file.display())))?;
    warga_ledger_core::network::Network::parse(&text)
        .map_err(|e| Failure::usage(anyhow::anyhow!("{}: {e}", file.display())))
}

/// Runs a `warga ledger …` command.
pub async fn run(config: warga_config::Config, command: LedgerCommand) -> Result<(), Failure> {
    match command {
        LedgerCommand::Network(NetworkCommand::Up { network, dir, channels }) => {
            let _logging = start_logging(&config)?;
            network_up(&network, &dir, &channels).await
        }
        LedgerCommand::Invoke {
            client,
            function,
            args,
            transient,
        } => {
            let status = connect(&client)?
                .submit_with_transient(&function, &args, transient_map(transient)?)
                .await
                .map_err(refused)?;
            print_result(&status.result);
            println!(
                "transaksi / transaction {} → blok / block {}: {}",
                status.tx_id, status.block, status.code_name
            );
            if status.code_name == "VALID" {
                Ok(())
            } else {
                Err(anyhow!(
                    "transaction {} was committed as invalid: {}",
                    status.tx_id,
                    status.code_name
                )
                .into())
            }
        }
        LedgerCommand::Query {
            client,
            function,
            args,
            transient,
        } => {
            let client = connect(&client)?;
            let signed = client
                .proposal_with_transient(&function, &args, transient_map(transient)?)
                .await
                .map_err(refused)?;
            let result = client.evaluate_proposal(signed).await.map_err(refused)?;
            print_result(&result);
            Ok(())
        }
        LedgerCommand::Info { client } => {
            let info = connect(&client)?.info().await.map_err(refused)?;
            println!("{}", render::channel_info(&info));
            Ok(())
        }
        LedgerCommand::Block { client, number, tx_id } => {
            let client = connect(&client)?;
            let block = match (number, tx_id) {
                (_, Some(tx_id)) => client.block_by_tx_id(&tx_id).await,
                (Some(number), None) => client.block(number).await,
                (None, None) => {
                    let height = client.info().await.map_err(refused)?.height;
                    client.block(height - 1).await
                }
            }
            .map_err(refused)?;
            println!("{:#}", render::block(block).map_err(|e| anyhow!(e))?);
            Ok(())
        }
        LedgerCommand::Compare {
            client,
            with,
            with_peer,
            with_address,
        } => {
            let mine = connect(&client)?;
            let other_args = crate::cli::ClientArgs {
                network: client.network.clone(),
                crypto: client.crypto.clone(),
                org: with.clone(),
                user: client.user.clone(),
                peer: with_peer,
                address: with_address,
                channel: client.channel.clone(),
            };
            // The other organisation's peer, reached with this client's own identity.
            let theirs = connect_as(&other_args, &client.org)?;
            let height = mine
                .info()
                .await
                .map_err(refused)?
                .height
                .min(theirs.info().await.map_err(refused)?.height);
            for number in 1..height {
                let (a, b) = (
                    mine.block(number).await.map_err(refused)?,
                    theirs.block(number).await.map_err(refused)?,
                );
                let hash = |b: &warga_ledger_proto::v1::Block| {
                    b.metadata.as_ref().map(|m| m.commit_hash.clone()).unwrap_or_default()
                };
                if hash(&a) != hash(&b) {
                    println!(
                        "berbeda / diverged at block {number}: {} ({}) vs {} ({with})",
                        warga_ledger_core::tx::hex(&hash(&a)),
                        client.org,
                        warga_ledger_core::tx::hex(&hash(&b)),
                    );
                    return Err(anyhow!("the peers diverged at block {number}").into());
                }
            }
            println!(
                "sepakat / agree: {} and {with} have the same commit hashes for blocks 1–{}",
                client.org,
                height.saturating_sub(1)
            );
            Ok(())
        }
        LedgerCommand::Status { client, tx_id } => {
            let status = connect(&client)?.status(&tx_id).await.map_err(refused)?;
            println!(
                "{}",
                serde_json::json!({ "tx_id": status.tx_id, "block": status.block, "code": status.code_name })
            );
            Ok(())
        }
        LedgerCommand::History {
            client,
            object_type,
            parts,
        } => {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let key = warga_ledger_core::chaincode::composite_key(&object_type, &parts)
                .map_err(|e| Failure::usage(anyhow!("the key: {e}")))?;
            let history = connect(&client)?.history(&key).await.map_err(refused)?;
            for change in &history {
                println!("{}", render::key_modification(change));
            }
            Ok(())
        }
        LedgerCommand::Events {
            client,
            from,
            count,
            full,
        } => {
            let mut stream = connect(&client)?.events(from, full).await.map_err(refused)?;
            let mut seen = 0u64;
            while count.is_none_or(|c| seen < c) {
                let event = tokio::select! {
                    next = stream.message() => match next.map_err(refused)? {
                        Some(event) => event,
                        None => break,
                    },
                    () = warga_app::shutdown_signal() => break,
                };
                println!("{}", render::block_event(event).map_err(|e| anyhow!(e))?);
                seen += 1;
            }
            Ok(())
        }
        LedgerCommand::Network(NetworkCommand::Check { file }) => {
            let network = read_network(&file)?;
            println!("jaringan / network {}: valid", network.name);
            for org in &network.organizations {
                println!("  {} ({}): {} peer", org.name, org.msp_id, org.peers.len());
            }
            println!(
                "  {} ({}): {} orderer, Raft",
                network.orderer.organization.name,
                network.orderer.organization.msp_id,
                network.orderer.nodes.len()
            );
            for channel in &network.channels {
                let chaincodes: Vec<&str> = channel.chaincodes.iter().map(|c| c.name.as_str()).collect();
                println!(
                    "  channel {}: {} — chaincode {}",
                    channel.name,
                    channel.members.join(", "),
                    chaincodes.join(", ")
                );
            }
            Ok(())
        }
        LedgerCommand::Verify(args) => {
            let network = read_network(&args.network)?;
            let channel = network
                .channel(&args.channel)
                .ok_or_else(|| Failure::usage(anyhow!("--channel: no channel {} in the network file", args.channel)))?;
            let genesis = warga_ledger_msp::channel::genesis_block(&network, channel, &args.crypto)?;
            let report = warga_ledger_peer::verify::verify(&args.ledger, &channel.name, genesis)
                .map_err(|e| anyhow!("{}: {e}", args.ledger.display()))?;
            println!(
                "ledger valid / sah: {} blocks, {} transactions ({} valid), {} keys in the world state",
                report.blocks, report.transactions, report.valid, report.state_keys
            );
            Ok(())
        }
        LedgerCommand::Config(command) => config_command(command).await,
        LedgerCommand::Channel(command) => channel_command(command).await,
        LedgerCommand::Chaincode(command) => chaincode_command(command).await,
        LedgerCommand::Crypto(CryptoCommand::Generate {
            network,
            out,
            keep_existing,
        }) => {
            let parsed = read_network(&network)?;
            if keep_existing && warga_ledger_msp::attestor::public_key_path(&out).exists() {
                println!(
                    "{} sudah berisi materi kripto; dipertahankan / already holds crypto material; kept",
                    out.display()
                );
                return Ok(());
            }
            let generated = warga_ledger_msp::generate::generate(&parsed, &out, time::OffsetDateTime::now_utc())
                .map_err(|e| match e {
                    warga_ledger_msp::generate::GenerateError::Exists(_) => Failure::usage(e),
                    other => other.into(),
                })?;
            println!(
                "{} organisasi, {} identitas, {} berkas / {} organisations, {} identities, {} files in {}",
                generated.organizations,
                generated.identities,
                generated.files,
                generated.organizations,
                generated.identities,
                generated.files,
                out.display()
            );
            Ok(())
        }
    }
}

/// A client of the peer `args` names, as the user it names.
/// `warga ledger channel …`.
async fn channel_command(command: crate::cli::ChannelCommand) -> Result<(), Failure> {
    use crate::cli::ChannelCommand;
    use warga_ledger_node::configtx::participation_request as request;
    let (node, action) = match &command {
        ChannelCommand::Genesis {
            network,
            crypto,
            channel,
            out,
        } => {
            let network = read_network(network)?;
            let bytes = warga_ledger_node::configtx::genesis_bytes(&network, channel, crypto).map_err(Failure::node)?;
            std::fs::write(out, &bytes).map_err(|e| Failure::from(anyhow!("cannot write {}: {e}", out.display())))?;
            println!(
                "blok genesis kanal / genesis block of channel {channel} ({} bytes) → {}",
                bytes.len(),
                out.display()
            );
            return Ok(());
        }
        ChannelCommand::Join { node, .. } => (node, "join"),
        ChannelCommand::List { node } => (node, "list"),
        ChannelCommand::Remove { node, .. } => (node, "remove"),
    };
    let network = read_network(&node.network)?;
    let admin = warga_ledger_node::configtx::Admin::load(&network, &node.crypto, &node.org, &node.user)
        .map_err(Failure::node)?;
    let target = if network.orderer.organization.name == node.org {
        network.orderer.nodes.iter().find(|n| n.name == node.node)
    } else {
        network
            .organizations
            .iter()
            .find(|o| o.name == node.org)
            .and_then(|o| o.peers.iter().find(|p| p.name == node.node))
    }
    .ok_or_else(|| Failure::usage(anyhow!("--node: {} has no node {}", node.org, node.node)))?;
    let addr = node.address.map_or(target.address.clone(), |a| a.to_string());
    let signed = match &command {
        ChannelCommand::Join { block, .. } => {
            let bytes =
                std::fs::read(block).map_err(|e| Failure::usage(anyhow!("cannot read {}: {e}", block.display())))?;
            request(&admin, action, "", bytes)
        }
        ChannelCommand::Remove { channel, .. } => request(&admin, action, channel, Vec::new()),
        _ => request(&admin, action, "", Vec::new()),
    }
    .map_err(Failure::node)?;
    let list = warga_ledger_node::configtx::participate(&admin, &addr, &target.host, signed)
        .await
        .map_err(Failure::node)?;
    match &command {
        ChannelCommand::Join { .. } => println!("{} bergabung / joined", target.host),
        ChannelCommand::Remove { channel, .. } => {
            println!(
                "{} keluar dari kanal / left channel {channel}; datanya dihapus / its data deleted",
                target.host
            )
        }
        _ => {}
    }
    for channel in list.channels {
        println!(
            "  kanal / channel {:<24} tinggi / height {:>8}  {}",
            channel.name, channel.height, channel.status
        );
    }
    Ok(())
}

/// `warga ledger config …`.
async fn config_command(command: crate::cli::ChannelConfigCommand) -> Result<(), Failure> {
    use crate::cli::ChannelConfigCommand as ConfigCommand;
    use warga_ledger_core::config::{ChannelConfig, ConfigEnvelope, ConfigUpdate, required_policies};
    use warga_ledger_node::configtx;
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| Failure::usage(anyhow!("cannot read {}: {e}", path.display())))
    };
    let write = |path: &Path, json: String| {
        std::fs::write(path, json + "\n").map_err(|e| Failure::from(anyhow!("cannot write {}: {e}", path.display())))
    };
    match command {
        ConfigCommand::Fetch { admin, out } => {
            let (signer, orderers) = admin_of(&admin)?;
            let (block, config) = configtx::fetch(&signer, &orderers, &admin.channel)
                .await
                .map_err(Failure::node)?;
            write(&out, config.to_pretty_json())?;
            println!(
                "konfigurasi kanal / channel configuration {}: urutan / sequence {}, dari blok / from block {block} → {}",
                config.channel,
                config.sequence,
                out.display()
            );
            Ok(())
        }
        ConfigCommand::Propose {
            current,
            next,
            add_crl,
            add_org,
            org_network,
            org_crypto,
            out,
        } => {
            let current_config = ChannelConfig::from_json(&read(&current)?)
                .map_err(|e| Failure::usage(anyhow!("{}: {e}", current.display())))?;
            let next_config = match next {
                Some(path) => ChannelConfig::from_json(&read(&path)?)
                    .map_err(|e| Failure::usage(anyhow!("{}: {e}", path.display())))?,
                None => {
                    let mut next = current_config.clone();
                    for (org, file) in &add_crl {
                        let bytes =
                            std::fs::read(file).map_err(|e| Failure::usage(anyhow!("cannot read {file}: {e}")))?;
                        // DER (as `warga ca` serves it) or PEM; the configuration carries PEM.
                        let der = warga_ledger_msp::revocation_list_der(&bytes)
                            .map_err(|e| Failure::usage(anyhow!("--add-crl {org}={file}: {e}")))?;
                        let pem = warga_ledger_msp::revocation_list_pem(&der);
                        if next.orderer.msp_id == *org {
                            next.orderer.crls.push(pem);
                        } else if let Some(section) = next
                            .organizations
                            .iter_mut()
                            .find(|o| o.name == *org || o.msp_id == *org)
                        {
                            section.crls.push(pem);
                        } else {
                            return Err(Failure::usage(anyhow!(
                                "--add-crl: no organisation {org} on channel {}",
                                current_config.channel
                            )));
                        }
                    }
                    if let (Some(name), Some(file), Some(crypto)) = (&add_org, &org_network, &org_crypto) {
                        let network = read_network(file)?;
                        let section = warga_ledger_msp::channel::organization_section(&network, name, crypto)
                            .map_err(|e| Failure::usage(anyhow!("--add-org {name}: {e}")))?;
                        if next.organization(&section.msp_id).is_some() {
                            return Err(Failure::usage(anyhow!(
                                "--add-org: {} is already a member of {}",
                                section.msp_id,
                                current_config.channel
                            )));
                        }
                        next.organizations.push(section);
                    }
                    next
                }
            };
            let resolved = current_config
                .resolve()
                .map_err(|e| Failure::usage(anyhow!("{}: {e}", current.display())))?;
            let update = ConfigUpdate::new(&current_config, next_config);
            update
                .config
                .resolve()
                .map_err(|e| Failure::usage(anyhow!("the next configuration: {e}")))?;
            let needs = required_policies(&resolved, &update.config);
            if needs.is_empty() {
                return Err(Failure::usage(anyhow!("the next configuration changes nothing")));
            }
            let envelope = ConfigEnvelope {
                update,
                signatures: Vec::new(),
            };
            write(&out, envelope.to_pretty_json())?;
            println!(
                "pembaruan / update → {}; perlu tanda tangan / needs the signatures of:",
                out.display()
            );
            for (what, policy) in needs {
                println!("  {policy} — {what}");
            }
            Ok(())
        }
        ConfigCommand::Sign { admin, update } => {
            let (signer, _) = admin_of(&admin)?;
            let mut envelope = ConfigEnvelope::from_json(&read(&update)?)
                .map_err(|e| Failure::usage(anyhow!("{}: {e}", update.display())))?;
            signer.sign(&mut envelope).map_err(Failure::node)?;
            write(&update, envelope.to_pretty_json())?;
            println!(
                "ditandatangani / signed by {} ({}), {} tanda tangan / signatures",
                admin.user,
                admin.org,
                envelope.signatures.len()
            );
            Ok(())
        }
        ConfigCommand::Submit { admin, update } => {
            let (signer, orderers) = admin_of(&admin)?;
            let envelope = ConfigEnvelope::from_json(&read(&update)?)
                .map_err(|e| Failure::usage(anyhow!("{}: {e}", update.display())))?;
            match configtx::submit(&signer, &orderers, &envelope).await {
                Ok(block) => {
                    println!(
                        "konfigurasi urutan / configuration sequence {} diurutkan di blok / ordered in block {block}",
                        envelope.update.config.sequence
                    );
                    Ok(())
                }
                Err(configtx::SubmitError::Refused(reason)) => {
                    Err(anyhow!("the orderers refused the update: {reason}").into())
                }
                Err(configtx::SubmitError::Node(error)) => Err(Failure::node(error)),
            }
        }
    }
}

/// `warga ledger chaincode …`.
async fn chaincode_command(command: crate::cli::ChaincodeCommand) -> Result<(), Failure> {
    use crate::cli::ChaincodeCommand;
    use warga_ledger_core::config::{ConfigEnvelope, ConfigUpdate};
    use warga_ledger_node::configtx;
    let read_update = |path: &Path| -> Result<ConfigEnvelope, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(anyhow!("cannot read {}: {e}", path.display())))?;
        ConfigEnvelope::from_json(&text).map_err(|e| Failure::usage(anyhow!("{}: {e}", path.display())))
    };
    let write_update = |path: &Path, envelope: &ConfigEnvelope| {
        std::fs::write(path, envelope.to_pretty_json() + "\n")
            .map_err(|e| Failure::from(anyhow!("cannot write {}: {e}", path.display())))
    };
    match command {
        ChaincodeCommand::Approve {
            admin,
            definition,
            update,
        } => {
            let (signer, orderers) = admin_of(&admin)?;
            let (_, current) = configtx::fetch(&signer, &orderers, &admin.channel)
                .await
                .map_err(Failure::node)?;
            let Some(in_force) = current.chaincodes.iter().find(|c| c.name == definition.name) else {
                return Err(Failure::usage(anyhow!(
                    "--name: no chaincode {} on channel {}",
                    definition.name,
                    admin.channel
                )));
            };
            let mut wanted = in_force.clone();
            wanted.sequence = definition.sequence;
            if let Some(version) = &definition.version {
                wanted.version = version.clone();
            }
            if let Some(policy) = &definition.endorsement_policy {
                wanted.endorsement_policy = policy.clone();
            }
            for (function, policy) in &definition.functions {
                wanted.functions.insert(function.clone(), policy.clone());
            }
            let mut envelope = if update.exists() {
                let envelope = read_update(&update)?;
                let proposed = envelope.update.config.chaincodes.iter().find(|c| c.name == wanted.name);
                if proposed != Some(&wanted) || envelope.update.base_sequence != current.sequence {
                    return Err(Failure::usage(anyhow!(
                        "{} holds another definition of {} (or one for an older configuration): approve that one, or start a new file",
                        update.display(),
                        wanted.name
                    )));
                }
                envelope
            } else {
                let mut next = current.clone();
                if let Some(slot) = next.chaincodes.iter_mut().find(|c| c.name == wanted.name) {
                    *slot = wanted.clone();
                }
                next.resolve()
                    .map_err(|e| Failure::usage(anyhow!("the definition: {e}")))?;
                ConfigEnvelope {
                    update: ConfigUpdate::new(&current, next),
                    signatures: Vec::new(),
                }
            };
            signer.sign(&mut envelope).map_err(Failure::node)?;
            write_update(&update, &envelope)?;
            println!(
                "{} menyetujui / approved {} versi / version {} urutan / sequence {}",
                admin.org, wanted.name, wanted.version, wanted.sequence
            );
            Ok(())
        }
        ChaincodeCommand::Checkcommitreadiness { admin, update } => {
            let (signer, orderers) = admin_of(&admin)?;
            let envelope = read_update(&update)?;
            let (_, current) = configtx::fetch(&signer, &orderers, &admin.channel)
                .await
                .map_err(Failure::node)?;
            let msps = warga_ledger_msp::Msps::from_config(&current)?;
            let message = envelope.update.signed_bytes();
            for org in &current.organizations {
                let approved = envelope.signatures.iter().any(|s| {
                    use warga_ledger_core::validate::Membership as _;
                    s.signer.msp_id == org.msp_id
                        && msps.verify(&s.signer, &message, &s.signature)
                        && msps
                            .identity(&s.signer)
                            .is_ok_and(|i| i.role == warga_ledger_core::policy::MspRole::Admin)
                });
                println!("  {}: {}", org.msp_id, if approved { "true" } else { "false" });
            }
            match warga_ledger_msp::channel::judge_update(&current, &envelope) {
                Ok(_) => println!("siap / ready: true"),
                Err(reason) => println!("siap / ready: false — {reason}"),
            }
            Ok(())
        }
        ChaincodeCommand::Commit { admin, update } => {
            let (signer, orderers) = admin_of(&admin)?;
            let envelope = read_update(&update)?;
            match configtx::submit(&signer, &orderers, &envelope).await {
                Ok(block) => {
                    println!("definisi / definition committed in block {block}");
                    Ok(())
                }
                Err(configtx::SubmitError::Refused(reason)) => {
                    Err(anyhow!("the orderers refused the definition: {reason}").into())
                }
                Err(configtx::SubmitError::Node(error)) => Err(Failure::node(error)),
            }
        }
        ChaincodeCommand::Querycommitted { admin, name } => {
            let (signer, orderers) = admin_of(&admin)?;
            let (_, current) = configtx::fetch(&signer, &orderers, &admin.channel)
                .await
                .map_err(Failure::node)?;
            let definitions: Vec<_> = current
                .chaincodes
                .iter()
                .filter(|c| name.as_ref().is_none_or(|n| *n == c.name))
                .collect();
            if definitions.is_empty() {
                return Err(Failure::usage(anyhow!(
                    "--name: no such chaincode on {}",
                    admin.channel
                )));
            }
            for definition in definitions {
                println!("{}", warga_ledger_core::config::definition_json(definition));
            }
            Ok(())
        }
    }
}

/// The administrator `args` names and the orderers it reaches (address, TLS host).
fn admin_of(
    args: &crate::cli::AdminArgs,
) -> Result<(warga_ledger_node::configtx::Admin, Vec<(String, String)>), Failure> {
    let network = read_network(&args.network)?;
    if network.channel(&args.channel).is_none() {
        return Err(Failure::usage(anyhow!(
            "--channel: no channel {} in the network file",
            args.channel
        )));
    }
    let admin = warga_ledger_node::configtx::Admin::load(&network, &args.crypto, &args.org, &args.user)
        .map_err(Failure::node)?;
    let mut orderers = warga_ledger_node::configtx::orderers(&network);
    if !args.orderers.is_empty() {
        if args.orderers.len() > orderers.len() {
            return Err(Failure::usage(anyhow!(
                "--orderer: the network file has {} orderers",
                orderers.len()
            )));
        }
        orderers.truncate(args.orderers.len());
        for ((addr, _), given) in orderers.iter_mut().zip(&args.orderers) {
            *addr = given.to_string();
        }
    }
    Ok((admin, orderers))
}

fn connect(args: &crate::cli::ClientArgs) -> Result<warga_ledger_node::client::Client, Failure> {
    connect_as(args, &args.org)
}

/// A client of the peer of `args.org`, as user `args.user` of organisation `identity_org`.
fn connect_as(args: &crate::cli::ClientArgs, identity_org: &str) -> Result<warga_ledger_node::client::Client, Failure> {
    let network = read_network(&args.network)?;
    let find = |name: &str, flag: &str| {
        network
            .organizations
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| Failure::usage(anyhow!("{flag}: no organisation {name} in the network file")))
    };
    let identity = find(identity_org, "--org")?;
    let org = find(&args.org, if args.org == identity_org { "--org" } else { "--with" })?;
    let peer = org
        .peers
        .iter()
        .find(|p| p.name == args.peer)
        .ok_or_else(|| Failure::usage(anyhow!("--peer: {} has no peer {}", org.name, args.peer)))?;
    if network.channel(&args.channel).is_none() {
        return Err(Failure::usage(anyhow!(
            "--channel: no channel {} in the network file",
            args.channel
        )));
    }
    warga_ledger_node::embedded::client_of(
        &network,
        &args.crypto,
        &identity.msp_id,
        &args.user,
        args.address.map_or_else(|| peer.address.clone(), |a| a.to_string()),
        &peer.host,
        &args.channel,
    )
    .map_err(Failure::node)
}

/// `warga ledger network up`: the nodes as child processes until Ctrl+C.
async fn network_up(network_file: &Path, dir: &Path, channels: &[String]) -> Result<(), Failure> {
    let exe = std::env::current_exe().context("cannot find the warga executable")?;
    let mut network = warga_ledger_node::processes::LocalNetwork::start_channels(&exe, network_file, dir, channels)
        .await
        .map_err(Failure::node)?;
    let channel = network.channel.clone();
    println!(
        "jaringan buku besar siap / ledger network ready — kanal / channels {}, {} proses / processes",
        channels.join(", "),
        network.nodes.len()
    );
    for node in &network.nodes {
        println!(
            "  {:<28} pid {:<7} https://{}/healthz   log {}",
            node.name,
            node.pid().unwrap_or(0),
            node.operations,
            node.log.display()
        );
    }
    let file = network_file.display();
    println!(
        "  Coba / try: warga ledger invoke --network {file} --crypto {crypto} --org BPJS --channel {channel} IssueCard 3171075203950004 1 2030-12-31 \"$(warga registry attest 3171075203950004 --crypto {crypto})\"",
        crypto = network.crypto.display()
    );
    println!("  (NIK terdaftar di registri / a NIK registered in warga's registry: IssueCard takes its attestation)");
    println!("  Hentikan dengan Ctrl+C / stop with Ctrl+C");
    // A node that exits is reported and the others keep running, as separate machines would
    // (restart it with its own command and data directory).
    let supervised = network.supervise(warga_app::shutdown_signal()).await;
    network.stop().await;
    supervised.map_err(Failure::node)
}

/// A refusal from a peer, as one line.
fn refused(status: tonic::Status) -> Failure {
    anyhow!("the peer refused ({:?}): {}", status.code(), status.message()).into()
}

/// A chaincode's result: pretty JSON when it is JSON.
fn print_result(result: &[u8]) {
    if result.is_empty() {
        return;
    }
    match serde_json::from_slice::<serde_json::Value>(result) {
        Ok(json) => println!("{json:#}"),
        Err(_) => println!("{}", String::from_utf8_lossy(result)),
    }
}

/// The DNS name of an `https://host:port` URL (none for an IP address).
fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    (!host.is_empty() && host.parse::<std::net::IpAddr>().is_err() && !host.starts_with('[')).then(|| host.to_owned())
}

/// The organisation's MSP id, domain and directory, from the network file.
fn ca_config(org: &CaOrg) -> Result<warga_ledger_ca::CaConfig, Failure> {
    let network = read_network(&org.network)?;
    let (msp_id, domain, orderer, ca_url) = if let Some(o) = network.organizations.iter().find(|o| o.name == org.org) {
        (o.msp_id.clone(), o.domain.clone(), false, o.ca_url.clone())
    } else if network.orderer.organization.name == org.org {
        let o = &network.orderer.organization;
        (o.msp_id.clone(), o.domain.clone(), true, o.ca_url.clone())
    } else {
        return Err(Failure::usage(anyhow!(
            "--org: no organisation {} in {}",
            org.org,
            org.network.display()
        )));
    };
    Ok(warga_ledger_ca::CaConfig {
        org_dir: warga_ledger_msp::generate::organization_dir(&org.crypto, orderer, &domain),
        msp_id,
        domain,
        orderer_organization: orderer,
        dns_names: ca_url.as_deref().and_then(url_host).into_iter().collect(),
    })
}

/// A client of the CA `ca` names.
fn ca_client(ca: &CaClient) -> Result<warga_ledger_ca::client::CaClient, Failure> {
    let pem = std::fs::read(&ca.tls_ca).with_context(|| format!("cannot read {}", ca.tls_ca.display()))?;
    warga_ledger_ca::client::CaClient::new(&ca.url, &pem, CA_TIMEOUT)
        .map_err(|e| Failure::usage_msg(format!("--tls-ca: {e}")))
}

/// The organisation admin's signing identity, from its MSP directory.
fn admin_identity(admin_msp: &Path, msp_id: &str) -> Result<warga_ledger_msp::SigningIdentity, Failure> {
    warga_ledger_node::peer::signing_identity(admin_msp, msp_id).map_err(Failure::node)
}

fn write_new(path: &PathBuf, contents: &str, secret: bool) -> Result<(), Failure> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {} (it must not exist yet)", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Runs a `warga ca …` command.
pub async fn ca(config: warga_config::Config, command: CaCommand) -> Result<(), Failure> {
    match command {
        CaCommand::Serve { org, listen } => {
            let _logging = start_logging(&config)?;
            let config = ca_config(&org)?;
            let ca = warga_ledger_ca::Ca::open(config.clone())?;
            let listener = warga_http::server::bind(listen)?;
            let local = listener.local_addr()?;
            println!(
                "CA {} ({}) mendengarkan di / listening on https://{local}",
                config.domain, config.msp_id
            );
            ca.serve(listener, warga_app::shutdown_signal()).await?;
            Ok(())
        }
        CaCommand::Register {
            ca,
            admin_msp,
            msp_id,
            id,
            role,
            attributes,
        } => {
            let admin = admin_identity(&admin_msp, &msp_id)?;
            let attributes = attributes.into_iter().collect();
            let secret = ca_client(&ca)?.register(&admin, &id, &role, &attributes).await?;
            println!("terdaftar / registered {id}; rahasia pendaftaran / enrollment secret (shown once): {secret}");
            Ok(())
        }
        CaCommand::Revoke {
            ca,
            admin_msp,
            msp_id,
            id,
        } => {
            let admin = admin_identity(&admin_msp, &msp_id)?;
            let revoked = ca_client(&ca)?.revoke(&admin, &id).await?;
            println!("dicabut / revoked: {revoked}");
            Ok(())
        }
        CaCommand::Enroll { ca, id, secret, out } => {
            let enrolled = ca_client(&ca)?.enroll(&id, &secret).await?;
            write_new(&out.join("msp/keystore/priv_sk"), &enrolled.key_pem, true)?;
            write_new(
                &out.join(format!("msp/signcerts/{id}-cert.pem")),
                &enrolled.certificate_pem,
                false,
            )?;
            write_new(
                &out.join("msp/cacerts/ca-cert.pem"),
                &enrolled.ca_certificate_pem,
                false,
            )?;
            println!("terdaftar / enrolled {id} → {}", out.join("msp").display());
            Ok(())
        }
    }
}

/// A ledger node's settings, from flags and the configuration file.
struct ResolvedNode {
    network: PathBuf,
    crypto: PathBuf,
    org: String,
    name: String,
    /// The network file's channels served from the start, besides those already joined.
    channels: Vec<String>,
    data: PathBuf,
    revocation_refresh: std::time::Duration,
    stop_with_parent: bool,
}

/// A node setting from its flag, else from the configuration file; one line naming both
/// when neither has it.
fn setting<T>(flag: Option<T>, configured: Option<T>, section: &str, key: &str) -> Result<T, Failure> {
    flag.or(configured).ok_or_else(|| {
        Failure::usage(anyhow!(
            "--{key}: required (or `{section}.{key}` in the configuration file)"
        ))
    })
}

impl ResolvedNode {
    /// The settings of `section` (`orderer` or `peer`), flags first; `org` only for peers.
    fn resolve(
        args: crate::cli::NodeArgs,
        org: Option<Option<String>>,
        file: warga_ledger_node::settings::LedgerNodeConfig,
        section: &str,
    ) -> Result<ResolvedNode, Failure> {
        Ok(ResolvedNode {
            network: setting(args.network, file.network, section, "network")?,
            crypto: setting(args.crypto, file.crypto, section, "crypto")?,
            org: match org {
                Some(flag) => setting(flag, file.org, section, "org")?,
                None => String::new(),
            },
            name: setting(args.name, file.name, section, "name")?,
            channels: {
                let mut channels = if args.channels.is_empty() {
                    file.channel.into_iter().chain(file.channels).collect()
                } else {
                    args.channels
                };
                channels.dedup();
                channels
            },
            data: args
                .data
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from("data").join(section)),
            revocation_refresh: args.revocation_refresh_s.or(file.revocation_refresh_s).map_or(
                warga_ledger_node::revocation::REFRESH_DEFAULT,
                std::time::Duration::from_secs,
            ),
            stop_with_parent: args.stop_with_parent,
        })
    }
}

/// `warga orderer`: one orderer of one channel.
pub async fn orderer(args: crate::cli::NodeArgs, config: warga_config::Config) -> Result<(), Failure> {
    let _logging = start_logging(&config)?;
    let args = ResolvedNode::resolve(
        args,
        None,
        config
            .section::<warga_ledger_node::settings::OrdererSettings>()
            .into_owned()
            .0,
        "orderer",
    )?;
    let network = Arc::new(read_network(&args.network)?);
    let me = network
        .orderer
        .nodes
        .iter()
        .find(|n| n.name == args.name)
        .ok_or_else(|| Failure::usage(anyhow!("--name: no orderer {} in the network file", args.name)))?
        .clone();
    let config = warga_ledger_node::orderer::OrdererConfig {
        network,
        crypto: args.crypto,
        name: args.name,
        channels: args.channels,
        data: args.data,
        revocation_refresh: args.revocation_refresh,
    };
    let listener = warga_ledger_node::embedded::bind(me.listen)
        .await
        .map_err(Failure::node)?;
    let operations = warga_ledger_node::lifecycle::bind_operations(me.operations).map_err(Failure::node)?;
    let running = warga_ledger_node::orderer::RunningOrderer::start(&config, listener)
        .await
        .map_err(Failure::node)?;
    let banner = format!(
        "orderer {} kanal / channels [{}]: gRPC {} (mTLS), operasi / operations https://{}",
        me.name,
        running
            .channels
            .all()
            .iter()
            .map(|n| n.channel.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        me.listen,
        me.operations
    );
    serve_until_signal(running, operations, banner, args.stop_with_parent).await
}

/// Serves a started node's operations endpoint, prints its banner, and on SIGINT or SIGTERM
/// (or, with `stop_with_parent`, when standard input closes) stops the endpoint and then the
/// node; returns once the node has stopped cleanly.
async fn serve_until_signal(
    running: impl warga_ledger_node::RunningNode,
    operations: std::net::TcpListener,
    banner: String,
    stop_with_parent: bool,
) -> Result<(), Failure> {
    println!("{banner}");
    let stop = async move {
        if stop_with_parent {
            tokio::select! {
                () = warga_app::shutdown_signal() => {}
                () = stdin_closed() => tracing::warn!("the parent process is gone (standard input closed); stopping"),
            }
        } else {
            warga_app::shutdown_signal().await;
        }
    };
    warga_ledger_node::lifecycle::serve_until(running, operations, stop)
        .await
        .map_err(Failure::node)
}

/// Returns when standard input reaches its end (or fails).
async fn stdin_closed() {
    use tokio::io::AsyncReadExt as _;
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 64];
    while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
}

/// `warga peer`: one peer of one channel — endorser, gateway, ledger queries and events over
/// gRPC, committing what the orderers deliver.
pub async fn peer(args: crate::cli::PeerArgs, config: warga_config::Config) -> Result<(), Failure> {
    let _logging = start_logging(&config)?;
    let args = ResolvedNode::resolve(
        args.node,
        Some(args.org),
        config
            .section::<warga_ledger_node::settings::PeerSettings>()
            .into_owned()
            .0,
        "peer",
    )?;
    let network = Arc::new(read_network(&args.network)?);
    let me = network
        .organizations
        .iter()
        .find(|o| o.name == args.org)
        .ok_or_else(|| Failure::usage(anyhow!("--org: no organisation {} in the network file", args.org)))?
        .peers
        .iter()
        .find(|p| p.name == args.name)
        .ok_or_else(|| Failure::usage(anyhow!("--name: {} has no peer {}", args.org, args.name)))?
        .clone();
    let config = warga_ledger_node::peer::PeerConfig {
        network,
        crypto: args.crypto,
        organization: args.org,
        name: args.name,
        channels: args.channels,
        data: args.data,
        revocation_refresh: args.revocation_refresh,
    };
    let listener = warga_ledger_node::embedded::bind(me.listen)
        .await
        .map_err(Failure::node)?;
    let operations = warga_ledger_node::lifecycle::bind_operations(me.operations).map_err(Failure::node)?;
    let running = warga_ledger_node::embedded::RunningPeer::start(&config, listener)
        .await
        .map_err(Failure::node)?;
    let joined: Vec<String> = running
        .channels
        .peers()
        .iter()
        .map(|p| {
            format!(
                "{} (tinggi / height {})",
                p.channel.name,
                p.ledger.height().unwrap_or(0)
            )
        })
        .collect();
    let banner = format!(
        "peer {} ({}) kanal / channels [{}]: gRPC {} (mTLS), operasi / operations https://{}",
        me.host,
        running.organization.msp_id,
        joined.join(", "),
        me.listen,
        me.operations
    );
    serve_until_signal(running, operations, banner, args.stop_with_parent).await
}

/// `--transient` values as the transient map; a `clinical` object gets a random salt.
fn transient_map(pairs: Vec<(String, String)>) -> Result<std::collections::BTreeMap<String, Vec<u8>>, Failure> {
    use ring::rand::SecureRandom;
    let mut transient: std::collections::BTreeMap<String, Vec<u8>> = pairs
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let mut salt = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow!("no randomness for the salt"))?;
    warga_ledger_core::bpjs::salt_clinical(&mut transient, &warga_ledger_core::tx::hex(&salt));
    Ok(transient)
}
