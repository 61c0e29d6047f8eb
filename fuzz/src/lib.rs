//! Helpers shared by Tern's fuzz targets (fuzz_targets/*.rs).

pub mod rib;
pub mod wire;

/// Stops a target built without debug assertions or overflow checks: the
/// fuzz profile turns both on (Cargo.toml), and a run without them would
/// miss the overflows and broken invariants it is meant to catch. Every
/// target calls it once, before the first input.
pub fn check_build() {
    if !cfg!(debug_assertions) {
        panic!("fuzz target built without debug assertions");
    }
    // An overflow must panic: try one, with the panic hook (libFuzzer's
    // abort) set aside meanwhile.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let overflowed =
        std::panic::catch_unwind(|| std::hint::black_box(u8::MAX) + std::hint::black_box(1u8))
            .is_err();
    std::panic::set_hook(hook);
    assert!(overflowed, "fuzz target built without overflow checks");
}
