//! BPF_PROG_TEST_RUN tests of the counter programs: a packet in, the verdict
//! and the per-interface counters out. Needs root (CAP_BPF, CAP_NET_ADMIN);
//! without it the load fails and so does the test.
use tern_ebpf::{CounterPrograms, Direction};

/// TCX_NEXT / TC_ACT_UNSPEC: let the next program and the stack decide.
const TCX_NEXT: i32 = -1;
/// BPF_PROG_TEST_RUN runs skb programs as if the loopback device saw them.
const LO_IFINDEX: u32 = 1;

/// An Ethernet frame carrying an IPv4/UDP datagram, `len` bytes long.
fn frame(len: usize) -> Vec<u8> {
    assert!(len >= 42);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (len - 14) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[192, 0, 2, 1]);
    f[30..34].copy_from_slice(&[192, 0, 2, 2]);
    f[34..36].copy_from_slice(&4000u16.to_be_bytes());
    f[36..38].copy_from_slice(&4001u16.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}

#[test]
fn ingress_and_egress_count_packets_and_bytes() {
    let progs = CounterPrograms::load(None).expect("load counter programs (root needed)");
    assert_eq!(progs.read(LO_IFINDEX).unwrap(), Default::default());

    for len in [60, 100, 1514] {
        let verdict = progs.test_run(Direction::Ingress, &frame(len)).unwrap();
        assert_eq!(
            verdict, TCX_NEXT,
            "counting must not decide the packet's fate"
        );
    }
    let verdict = progs.test_run(Direction::Egress, &frame(42)).unwrap();
    assert_eq!(verdict, TCX_NEXT);

    let c = progs.read(LO_IFINDEX).unwrap();
    assert_eq!(c.rx_packets, 3);
    assert_eq!(c.rx_bytes, 60 + 100 + 1514);
    assert_eq!(c.tx_packets, 1);
    assert_eq!(c.tx_bytes, 42);
    // Nothing was counted against another interface.
    assert_eq!(progs.read(2).unwrap(), Default::default());
}

#[test]
fn short_frames_are_refused_by_the_kernel_and_not_counted() {
    let progs = CounterPrograms::load(None).expect("load counter programs (root needed)");
    // Shorter than an Ethernet header, or an IP ethertype without a whole
    // IP header: the kernel refuses to build an skb from it.
    assert!(progs.test_run(Direction::Ingress, &[0u8; 10]).is_err());
    let mut truncated_v6 = [0u8; 30];
    truncated_v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert!(progs.test_run(Direction::Ingress, &truncated_v6).is_err());
    assert_eq!(progs.read(LO_IFINDEX).unwrap(), Default::default());
    // A bare header with a non-IP ethertype (local experimental 0x88b5) and a
    // minimal IPv6 frame are real frames and are counted.
    let mut bare = [0u8; 14];
    bare[12..14].copy_from_slice(&[0x88, 0xb5]);
    assert_eq!(progs.test_run(Direction::Ingress, &bare).unwrap(), TCX_NEXT);
    let mut v6 = [0u8; 54];
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    v6[14] = 0x60;
    v6[20] = 59; // no next header
    v6[21] = 64;
    assert_eq!(progs.test_run(Direction::Egress, &v6).unwrap(), TCX_NEXT);
    let c = progs.read(LO_IFINDEX).unwrap();
    assert_eq!((c.rx_packets, c.rx_bytes), (1, 14));
    assert_eq!((c.tx_packets, c.tx_bytes), (1, 54));
}

#[test]
fn pinned_map_lives_under_the_instance_dir_and_goes_with_the_loader() {
    let bpffs = std::path::Path::new("/sys/fs/bpf");
    assert!(
        bpffs.join(".").exists(),
        "bpffs must be mounted on /sys/fs/bpf (lab/setup.sh does it)"
    );
    let instance = format!("test-{}", std::process::id());
    let dir = tern_ebpf::pin_dir(bpffs, &instance);
    let pin = dir.join("if_counters");
    {
        let _progs = CounterPrograms::load(Some(&dir)).expect("load with pin");
        assert!(pin.exists(), "{} must exist while loaded", pin.display());
        // A second daemon of the same instance replaces the stale pin.
        let _again = CounterPrograms::load(Some(&dir)).expect("reload replaces pin");
        assert!(pin.exists());
    }
    assert!(!pin.exists(), "pin must be removed on drop");
    let _ = std::fs::remove_dir(&dir);
}
