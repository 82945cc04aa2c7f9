//! Debian's nginx on a config of its own, in front of an origin on loopback: a site config
//! from `deploy/` as committed, only its listen address and upstream changed.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// nginx running on a config of its own; killed when dropped.
pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    /// Its prefix directory: the configs, the logs (`access.log`, `error.log`), the temp dirs.
    pub dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How nginx is started: the site config and what the main config says around it.
pub struct Config<'a> {
    /// The scratch directory's name.
    pub name: &'a str,
    /// The site config, relative to the repository's top (e.g. `deploy/nginx-mjpeg.conf`).
    pub site: &'a str,
    pub worker_connections: u32,
    /// The access log's format (`log_format`), or nginx's default.
    pub log_format: Option<&'a str>,
}

/// A free loopback port, found by binding port 0: nginx must be told a number.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts nginx with `config` on a free loopback port in front of `origin`, once it listens.
/// The site's `listen 80;` and `server 127.0.0.1:8080;` (both must be there) become that
/// port and `origin`; `edit` then changes what else the test needs, given the prefix directory.
pub fn start(
    config: &Config,
    origin: SocketAddr,
    edit: impl FnOnce(String, &Path) -> String,
) -> Nginx {
    let dir = super::scratch_dir(config.name);
    let port = free_port();
    let site = std::fs::read_to_string(super::repo_root().join(config.site)).unwrap();
    let (listen, upstream) = ("listen 80;", "server 127.0.0.1:8080;");
    assert!(
        site.contains(listen) && site.contains(upstream),
        "{}: no `{listen}` or no `{upstream}`",
        config.site
    );
    let site = site
        .replace(listen, &format!("listen 127.0.0.1:{port};"))
        .replace(upstream, &format!("server {origin};"));
    let site = edit(site, &dir);
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let d = dir.display();
    let log = match config.log_format {
        Some(format) => {
            format!("log_format test '{format}';\n  access_log {d}/access.log test;")
        }
        None => format!("access_log {d}/access.log;"),
    };
    let main = format!(
        "user root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections {}; }}\n\
         http {{\n  {log}\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/site.conf;\n}}\n",
        config.worker_connections
    );
    std::fs::write(dir.join("main.conf"), main).unwrap();
    let child = Command::new("nginx")
        .args(["-p", dir.to_str().unwrap(), "-c"])
        .arg(dir.join("main.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let n = Nginx { child, addr, dir };
    assert!(
        super::wait_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok()),
        "nginx did not listen on {addr}"
    );
    n
}
