//! The checked-in example configuration is valid and documents exactly the defaults.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::path::Path;

use mmo::Config;
use mmo_core::config::from_toml_str;

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml");
    std::fs::read_to_string(path).expect("config.example.toml at the repository root")
}

#[test]
fn the_example_parses_to_the_defaults() {
    let parsed: Config = from_toml_str(&example()).unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn unknown_keys_and_bad_units_are_rejected() {
    let err = from_toml_str::<Config>("[listener]\nmax_conections = 5\n").unwrap_err();
    assert!(err.to_string().contains("max_conections"), "{err}");
    assert!(from_toml_str::<Config>("[listener]\nidle_timeout = \"30 parsecs\"\n").is_err());
    assert!(from_toml_str::<Config>("[nope]\n").is_err());
    let cfg: Config = from_toml_str("[listener]\nmax_frame_len = \"1MiB\"\nidle_timeout = \"2m\"\n").unwrap();
    assert_eq!(cfg.listener.max_frame_len.as_u64(), 1 << 20);
    assert_eq!(cfg.listener.idle_timeout.as_secs(), 120);
}

#[test]
fn invalid_relations_are_caught_at_load() {
    let dir = std::env::temp_dir().join(format!("mmo-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[listener]\nmax_frame_len = \"4B\"\n").unwrap();
    let err = Config::load(Some(&file)).unwrap_err();
    assert!(err.to_string().contains("max_frame_len"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
