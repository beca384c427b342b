//! The `dangan` binary: serve (default), migrate, openapi, admin create-user, scheduler run-once,
//! audit verify, audit checkpoint, backup, rollups rebuild, rollups verify and files rotate-key.

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use dangan_api::{
    audit_offline,
    clock::{Clock, SystemClock},
    config::{
        AdminCommand, AuditCommand, Cli, Command, FilesCommand, RollupsCommand, SchedulerCommand,
    },
    openapi, prepare, scheduler, Application, StartupError,
};
use dangan_domain::access::Principal;
use dangan_persistence::{cases::reports, db, store::rollups, PersistenceError};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dangan: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), StartupError> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", openapi::yaml().map_err(StartupError::Invalid)?);
            Ok(())
        }
        Command::Migrate => {
            prepare(&config, Arc::new(SystemClock))?;
            log::info!("migrations are up to date");
            Ok(())
        }
        Command::Admin(AdminCommand::CreateUser {
            username,
            display_name,
            password,
            roles,
            clearance,
        }) => {
            let state = prepare(&config, Arc::new(SystemClock))?;
            let user = dangan_api::create_user(
                &state,
                &username,
                display_name.as_deref(),
                password.expose(),
                &roles,
                &clearance,
            )?;
            dangan_api::seal_audit(&state)?;
            println!("created user {} ({})", user.username, user.id);
            Ok(())
        }
        Command::Scheduler(SchedulerCommand::RunOnce) => {
            let state = prepare(&config, Arc::new(SystemClock))?;
            let run = scheduler::run_once(&state).map_err(StartupError::from)?;
            dangan_api::seal_audit(&state)?;
            println!("{run:?}");
            Ok(())
        }
        Command::Audit(AuditCommand::Checkpoint) => {
            let checkpoint = audit_offline::checkpoint(&config, SystemClock.now())?;
            let text = serde_json::to_string_pretty(&checkpoint)
                .map_err(|e| StartupError::Invalid(e.to_string()))?;
            println!("{text}");
            Ok(())
        }
        Command::Audit(AuditCommand::Verify {
            checkpoint,
            public_key,
        }) => {
            let verified =
                audit_offline::verify(&config, checkpoint.as_deref(), public_key.as_deref())?;
            println!(
                "the chain is intact: {} events, head {}",
                verified.report.checked, verified.report.head_hash
            );
            match (&checkpoint, &verified.signed_by) {
                (Some(_), Some(key)) => println!(
                    "it extends the checkpoint, signed by {key} (the key of {})",
                    verified.key_source
                ),
                (Some(_), None) => println!(
                    "it extends the checkpoint, which is unsigned: that proves the chain kept what \
                     the checkpoint's keeper saw, not who issued it"
                ),
                (None, _) => {}
            }
            if verified.pending > 0 {
                println!(
                    "{} events are committed but not sealed yet; a running server seals them",
                    verified.pending
                );
            }
            Ok(())
        }
        Command::Files(FilesCommand::RotateKey { new_key }) => {
            let count = dangan_api::files::rotate_key(&config, new_key.expose())?;
            println!(
                "re-wrapped the keys of {count} files; start every instance with \
                 DANGAN_FILES_KEY set to the new key"
            );
            Ok(())
        }
        Command::Backup { file } => {
            if file.exists() {
                return Err(StartupError::Invalid(format!(
                    "{} exists; a backup never writes over a file",
                    file.display()
                )));
            }
            let pool = db::connect(&config.database_url, 1)?;
            let mut conn = pool.get().map_err(PersistenceError::from)?;
            let started = std::time::Instant::now();
            if !db::backup(&mut conn, &file)? {
                return Err(StartupError::Invalid(
                    "PostgreSQL is backed up with its own tools, while the server runs: \
                     pg_dump -Fc -f dangan.dump \"$DANGAN_DATABASE_URL\" (see the README)"
                        .to_owned(),
                ));
            }
            let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            println!(
                "backed up to {} ({bytes} bytes) in {:.1} s",
                file.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Rollups(RollupsCommand::Rebuild) => {
            let state = prepare(&config, Arc::new(SystemClock))?;
            let mut conn = state.pool.get().map_err(PersistenceError::from)?;
            let started = std::time::Instant::now();
            rollups::rebuild(&mut conn)?;
            println!(
                "report counters refilled in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Rollups(RollupsCommand::Verify) => {
            let state = prepare(&config, Arc::new(SystemClock))?;
            let mut conn = state.pool.get().map_err(PersistenceError::from)?;
            let everything = reports::Period {
                from: None,
                to: None,
            };
            let differences = reports::disagreements(
                &mut conn,
                &Principal::operator(),
                &everything,
                SystemClock.now(),
            )?;
            if differences.is_empty() {
                println!("every report agrees with the loans and requests");
                Ok(())
            } else {
                Err(StartupError::Invalid(format!(
                    "the report counters disagree with the loans and requests (`dangan rollups \
                     rebuild` refills them):\n{}",
                    differences.join("\n")
                )))
            }
        }
        Command::Serve => {
            let state = prepare(&config, Arc::new(SystemClock))?;
            let every = config.scheduler.scheduler_interval_secs;
            if every > 0 {
                scheduler::spawn(state.clone(), Duration::from_secs(every))?;
            }
            dangan_api::webhooks::spawn(state.clone(), Duration::from_secs(1))?;
            dangan_api::seal_forever(state.clone(), Duration::from_millis(200))?;
            dangan_api::fold_forever(state.clone(), Duration::from_secs(1))?;
            if dangan_persistence::Store::of(&config.database_url)
                == dangan_persistence::Store::Sqlite
            {
                dangan_api::checkpoint_forever(state.clone(), Duration::from_secs(1))?;
            }
            if state.mailer.is_some() {
                dangan_api::mail::spawn(state.clone(), Duration::from_secs(5))?;
            }
            let app = Application::build(state, &config.bind, config.workers)?;
            release_startup_memory();
            log::info!("dangan listening on {} (port {})", config.bind, app.port());
            actix_web::rt::System::new().block_on(app.server())?;
            Ok(())
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    /// glibc's: returns the free pages of its heaps to the kernel. It takes no pointer and may be
    /// called from any thread at any time, so nothing about calling it is unsafe.
    safe fn malloc_trim(pad: usize) -> std::ffi::c_int;
}

/// Hands back the heap pages that starting left free (building the OpenAPI document, migrating,
/// sealing): glibc keeps freed pages in the middle of its heap otherwise, and at idle they were
/// a sixth of the server's resident memory.
fn release_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    malloc_trim(0);
}
