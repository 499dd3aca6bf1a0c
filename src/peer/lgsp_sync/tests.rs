//! The legacy route's peer, without a server.

use std::time::Duration;

use super::*;

#[test]
fn session_auth_is_refused_for_the_legacy_route() {
    let cfg = LgspSyncConfig {
        tls: Default::default(),
        base_url: "http://127.0.0.1:1".into(),
        auth: DvcqgAuth::Session {
            dstcode: "H56".into(),
            username: "u".into(),
            password: Some("p".to_string().into()),
            password_file: None,
        },
        policy: Default::default(),
        classify: Vec::new(),
    };
    let err = LgspSyncPeer::new(&cfg, Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("peers.lgsp_sync.auth.mode"), "{err}");
}
