//! Processes started by tests (e.g. the controller binary), on the host or inside the pod netns, with
//! stdout/stderr captured to files and killed on drop.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::{TempDir, cluster};

/// Builder for a [`TestProcess`].
#[derive(Debug, Clone)]
pub struct Spawn {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    in_pod_network: bool,
    current_dir: Option<PathBuf>,
}

impl Spawn {
    /// A process running `program` (a path, or a name looked up in `PATH`).
    pub fn new(program: impl AsRef<Path>) -> Self {
        Self {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            in_pod_network: false,
            current_dir: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (the test process's environment is inherited otherwise).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets `KUBECONFIG` (e.g. from [`crate::service_account_kubeconfig`]).
    pub fn kubeconfig(self, path: impl AsRef<Path>) -> Self {
        self.env("KUBECONFIG", path.as_ref().as_os_str().to_os_string())
    }

    /// Runs the process inside the pod netns (`ip netns exec`), where it can listen on
    /// `cluster().pod_ip` and reach the apiserver at `cluster().apiserver`.
    pub fn in_pod_network(mut self) -> Self {
        self.in_pod_network = true;
        self
    }

    /// Working directory of the process.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Starts the process; `name` labels its log directory and messages.
    pub fn start(self, name: &str) -> Result<TestProcess> {
        let logs = TempDir::new(&format!("proc-{name}"));
        let stdout_path = logs.path().join("stdout.log");
        let stderr_path = logs.path().join("stderr.log");
        let stdout = File::create(&stdout_path)
            .with_context(|| format!("creating {}", stdout_path.display()))?;
        let stderr = File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut cmd = if self.in_pod_network {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &cluster().netns])
                .arg(&self.program);
            c
        } else {
            Command::new(&self.program)
        };
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        let child = cmd.spawn().with_context(|| {
            format!(
                "starting {name}: {}{}",
                if self.in_pod_network {
                    "ip netns exec … "
                } else {
                    ""
                },
                self.program.display()
            )
        })?;
        Ok(TestProcess {
            name: name.to_string(),
            child,
            stdout_path,
            stderr_path,
            exit: None,
            logs: Some(logs),
        })
    }
}

/// A running process; SIGTERM then SIGKILL on drop. When dropped during a panic, its logs are printed
/// and kept on disk.
#[derive(Debug)]
pub struct TestProcess {
    name: String,
    child: Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    exit: Option<ExitStatus>,
    logs: Option<TempDir>,
}

impl TestProcess {
    /// Process id (of the program itself: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Paths of the stdout and stderr log files.
    pub fn log_paths(&self) -> (&Path, &Path) {
        (&self.stdout_path, &self.stderr_path)
    }

    /// The exit status if the process has ended.
    pub fn try_exit(&mut self) -> Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self
                .child
                .try_wait()
                .with_context(|| format!("checking process {}", self.name))?;
        }
        Ok(self.exit)
    }

    /// Waits (polling, without blocking the async runtime for long) for the process to exit.
    pub async fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "process {} still running after {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.try_exit()? {
            return Ok(status);
        }
        // No libc (unsafe is forbidden): use kill(1) for SIGTERM.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .with_context(|| format!("waiting for process {}", self.name))?;
        self.exit = Some(status);
        Ok(status)
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(2));
        if std::thread::panicking() {
            eprintln!(
                "--- {} stdout ({}) ---\n{}\n--- {} stderr ({}) ---\n{}",
                self.name,
                self.stdout_path.display(),
                self.stdout(),
                self.name,
                self.stderr_path.display(),
                self.stderr()
            );
            // Keep the logs for inspection.
            if let Some(logs) = self.logs.take() {
                std::mem::forget(logs);
            }
        }
    }
}
