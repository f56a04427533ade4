//! A step of a day run as a child process (`medlake [--config F] --quiet <step> --day D`):
//! the command people type, so a scheduled day and a hand-run day do exactly the same
//! thing and leave the same run records. Its output is appended to the day's log file;
//! its last line on stderr (medlake's one-line error) is the failure's message.

use std::path::PathBuf;
use std::process::Stdio;

use chrono::NaiveDate;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::config::Step;

/// How to start the steps.
#[derive(Debug, Clone)]
pub struct StepRunner {
    /// The medlake program.
    pub program: PathBuf,
    /// The config file the children read (`None`: theirs by default, as this process').
    pub config_file: Option<PathBuf>,
    /// Where each day's log goes (`<day>.log`).
    pub log_dir: PathBuf,
}

/// How a step ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// One line: the step's own error line, or how it ended.
    pub message: String,
}

impl StepRunner {
    /// Runs `step` for `day` to its end. Dropping the future kills the child (the
    /// scheduler does so when it loses its lease).
    pub async fn run(&self, step: Step, day: NaiveDate) -> Result<(), StepFailure> {
        let failure = |message: String| StepFailure { message };
        let mut command = Command::new(&self.program);
        if let Some(file) = &self.config_file {
            command.arg("--config").arg(file);
        }
        command
            .args(["--quiet", step.as_str(), "--day", &day.to_string()])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        die_with_parent(&mut command);
        let output = command
            .output()
            .await
            .map_err(|e| failure(format!("cannot start {}: {e}", self.program.display())))?;
        if let Err(e) = self
            .append_log(step, day, &output.stdout, &output.stderr)
            .await
        {
            tracing::warn!(error = %e, day = %day, "cannot write the schedule's log");
        }
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        let how = match output.status.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_string(),
        };
        Err(failure(match last {
            Some(line) => format!("{}: {} ({how})", step.as_str(), line.trim()),
            None => format!("{} ended with {how}", step.as_str()),
        }))
    }

    /// The log file of `day`.
    pub fn log_file(&self, day: NaiveDate) -> PathBuf {
        self.log_dir.join(format!("{day}.log"))
    }

    async fn append_log(
        &self,
        step: Step,
        day: NaiveDate,
        stdout: &[u8],
        stderr: &[u8],
    ) -> std::io::Result<()> {
        tokio::fs::create_dir_all(&self.log_dir).await?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file(day))
            .await?;
        let header = format!(
            "== {} {} at {}\n",
            step.as_str(),
            day,
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
        );
        file.write_all(header.as_bytes()).await?;
        file.write_all(stdout).await?;
        file.write_all(stderr).await?;
        file.flush().await
    }
}

/// Makes the step die with the scheduler, even when the scheduler is killed outright
/// (`kill -9`, the OOM killer): a step left running by a dead scheduler would go on
/// writing while the next holder of the lease runs the same day.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    // SAFETY: between fork and exec only the async-signal-safe prctl is called, and it
    // touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}
