//! A throwaway PostgreSQL cluster for tests and trials: `initdb` in a temporary folder, a free
//! port on 127.0.0.1, trust authentication, stopped and deleted when dropped. Uses the server
//! programs under /usr/lib/postgresql (Debian's layout); as root, runs them as `postgres`.

use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL cluster in a temporary folder, stopped when dropped.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    fn bin_dir() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    }

    fn run(&self, program: &str, args: &[&str]) -> Option<std::process::Output> {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).output().ok()
    }

    /// Whether the server programs are installed.
    pub fn installed() -> bool {
        Self::bin_dir().is_some()
    }

    /// Starts a cluster, or returns `None` where no server programs are installed or they
    /// fail (the reason is printed).
    pub fn start() -> Option<Self> {
        let bin = Self::bin_dir()?;
        let dir = tempfile::tempdir().ok()?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            // The server refuses to run as root: the cluster belongs to the postgres user.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
            if !status.success() {
                return None;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let pg = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = pg.data();
        let init = pg.run(
            "initdb",
            &["-D", &data, "-U", "kiln", "-A", "trust", "--no-sync"],
        )?;
        if !init.status.success() {
            eprintln!("initdb failed: {}", String::from_utf8_lossy(&init.stderr));
            return None;
        }
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.dir.path().display()
        );
        let log = format!("{}/log", pg.dir.path().display());
        let start = pg.run(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        )?;
        if !start.status.success() {
            eprintln!(
                "pg_ctl start failed: {}",
                String::from_utf8_lossy(&start.stderr)
            );
            return None;
        }
        Some(pg)
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.path().display())
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://kiln@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}
