// Fuzz target: ternd's config file grammar (Config::parse, every block:
// router bgp and its address families, policy, interfaces, datapath,
// services, egress gateway, BFD, static routes, SRv6 and VRFs), with the
// input as the file's text. A config that parses must render (as `show
// running-config` and `write memory` do) to a text that parses again to
// the same config: what ternd saves, it must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_bgpd::config::Config;

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse("fuzz.conf", text) else {
        return;
    };
    let _ = config.render_shown(false);
    let saved = config.render();
    match Config::parse("saved.conf", &saved) {
        Ok(again) => assert_eq!(
            again, config,
            "the saved config reads back different:\n{text}\n---- saved:\n{saved}"
        ),
        Err(e) => panic!("the saved config does not parse: {e:?}\n{text}\n---- saved:\n{saved}"),
    }
});
