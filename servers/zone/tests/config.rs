//! The zone's settings parse from TOML with their documented defaults; nonsense is refused.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mmo_zone::ZoneConfig;

#[test]
fn an_empty_section_is_the_defaults_and_unknown_keys_are_refused() {
    let c: ZoneConfig = toml::from_str("").unwrap();
    assert_eq!(c, ZoneConfig::default());
    assert_eq!((c.tick_rate, c.view_radius, c.max_visible), (20, 50.0, 256));
    let c: ZoneConfig = toml::from_str("view_radius = 80.0\nclaim_burst = \"750ms\"").unwrap();
    assert_eq!((c.view_radius, c.claim_burst), (80.0, Duration::from_millis(750)));
    assert!(toml::from_str::<ZoneConfig>("view_radios = 80.0").is_err());
    c.validate().unwrap();
    for bad in ["view_radius = -1.0", "view_radius = nan", "cells_per_view = 0", "max_visible = 0"] {
        let c: ZoneConfig = toml::from_str(bad).unwrap();
        assert!(c.validate().is_err(), "{bad}");
    }
}
