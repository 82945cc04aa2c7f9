//! The whole RTSP connection of the server: bytes in, what it writes out, time passed in
//! (`server::conn::memory::replay`, which says the input format and the checks). Byte 0 of
//! the input picks the server: bit 0 set, one with `--auth alice:s3cret`.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn server(auth: bool) -> &'static server::Server {
    static OPEN: OnceLock<server::Server> = OnceLock::new();
    static AUTH: OnceLock<server::Server> = OnceLock::new();
    let make = || {
        let mut config = server::Config {
            bind: ([127, 0, 0, 1], 0).into(),
            videos: concat!(env!("CARGO_MANIFEST_DIR"), "/../videos").into(),
            ..server::Config::default()
        };
        if auth {
            config.users = vec![("alice".into(), "s3cret".into())];
        }
        server::Server::bind(config).expect("bind")
    };
    match auth {
        true => AUTH.get_or_init(make),
        false => OPEN.get_or_init(make),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, input)) = data.split_first() else {
        return;
    };
    let server = server(flags & 1 == 1);
    let local = server.local_addr().unwrap();
    if let Err(e) = server::conn::memory::replay(&server.shared(), local, input) {
        panic!("{e}");
    }
});
