//! One BFD session in Asynchronous mode (RFC 5880 section 6): the state
//! machine, the timer negotiation with Poll/Final, the detection time and
//! the jittered transmit schedule.
//!
//! Sans-IO: the caller passes the time in (`now`) and sends what comes
//! out; [`Session::next_deadline`] says when to call [`Session::on_timer`]
//! next. Demand mode and the Echo function are not implemented: the
//! session advertises a Required Min Echo RX Interval of zero and never
//! sets the D bit.
use std::time::{Duration, Instant};

use crate::packet::{ControlPacket, Diag, State};

/// Transmit interval while the session is not Up (RFC 5880 section 6.8.3:
/// at least one second).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// The timers a session is configured with (FRR bfdd's words:
/// `receive-interval`, `transmit-interval`, `detect-multiplier`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
}

impl Default for Timers {
    /// FRR's defaults: 300 ms both ways, multiplier 3.
    fn default() -> Self {
        Timers {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
        }
    }
}

/// What the session asks of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this packet to the peer now.
    Send(ControlPacket),
    /// The session state changed (with the local diagnostic in force).
    StateChanged { from: State, to: State, diag: Diag },
}

/// Why a packet was not taken by the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RxError {
    #[error("Your Discriminator {got} is not this session's {ours}")]
    WrongDiscriminator { got: u32, ours: u32 },
    #[error("the session is administratively down")]
    AdminDown,
}

/// A small deterministic random source for the transmit jitter
/// (xorshift64*), seeded by the caller.
#[derive(Clone, Debug)]
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A percentage in `lo..=hi`.
    fn percent(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Counters and times for `show bfd peers`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub up_count: u64,
    pub down_count: u64,
}

/// One BFD session (RFC 5880 section 6.8.1's state variables).
#[derive(Clone, Debug)]
pub struct Session {
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diag,
    remote_diag: Diag,
    /// The timers in force; `pending` holds new ones until a Poll sequence
    /// confirms them (section 6.8.3).
    timers: Timers,
    pending: Option<Timers>,
    /// Timers advertised in the packets (may differ from `timers` while a
    /// Poll is running).
    advertised: Timers,
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_detect_mult: u8,
    remote_echo_rx: Duration,
    /// A Poll sequence is running: every packet has the P bit.
    polling: bool,
    /// A Poll was received: the next packet carries F, at once.
    final_due: bool,
    admin_down: bool,
    /// When the next periodic packet is due (None: no periodic packets).
    next_tx: Option<Instant>,
    /// When the detection time runs out (None: not running).
    detect_at: Option<Instant>,
    /// When the session last changed state.
    changed_at: Instant,
    jitter: Jitter,
    stats: SessionStats,
}

impl Session {
    /// A new session in Down with local discriminator `local_discr` (non
    /// zero, unique on this system); `seed` drives the jitter.
    pub fn new(local_discr: u32, timers: Timers, seed: u64, now: Instant) -> Session {
        let mut s = Session {
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diag::None,
            remote_diag: Diag::None,
            timers,
            pending: None,
            advertised: Timers {
                desired_min_tx: SLOW_TX.max(timers.desired_min_tx),
                ..timers
            },
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_echo_rx: Duration::ZERO,
            polling: false,
            final_due: false,
            admin_down: false,
            next_tx: None,
            detect_at: None,
            changed_at: now,
            jitter: Jitter(seed | 1),
            stats: SessionStats::default(),
        };
        s.schedule_tx(now);
        s
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }
    pub fn remote_diag(&self) -> Diag {
        self.remote_diag
    }
    /// The configured timers (the ones being negotiated, if a Poll runs).
    pub fn timers(&self) -> Timers {
        self.pending.unwrap_or(self.timers)
    }
    /// The peer's advertised Required Min RX, Desired Min TX and Detect
    /// Mult (zero before its first packet).
    pub fn remote_timers(&self) -> Timers {
        Timers {
            desired_min_tx: self.remote_desired_tx,
            required_min_rx: self.remote_min_rx,
            detect_mult: self.remote_detect_mult,
        }
    }
    /// The peer's Required Min Echo RX Interval (zero: no Echo).
    pub fn remote_echo_rx(&self) -> Duration {
        self.remote_echo_rx
    }
    pub fn stats(&self) -> SessionStats {
        self.stats
    }
    /// When the session last changed state.
    pub fn changed_at(&self) -> Instant {
        self.changed_at
    }

    /// The interval between periodic packets before jitter: the larger of
    /// what we want to send and what the peer can take (section 6.8.7).
    /// While Up, a slower rate being polled for waits for the Final
    /// (section 6.8.3); a faster one applies at once.
    pub fn tx_interval(&self) -> Duration {
        let desired = match (self.state, self.pending) {
            (State::Up, Some(p)) => p.desired_min_tx.min(self.timers.desired_min_tx),
            (State::Up, None) => self.timers.desired_min_tx,
            _ => self.advertised.desired_min_tx,
        };
        desired.max(self.remote_min_rx)
    }

    /// The detection time (section 6.8.4, Asynchronous mode): the peer's
    /// Detect Mult times the agreed interval at which it sends.
    pub fn detection_time(&self) -> Duration {
        let rx = self.timers.required_min_rx.max(self.remote_desired_tx);
        rx * u32::from(self.remote_detect_mult)
    }

    /// The earliest time [`Session::on_timer`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The packet this session sends now (section 6.8.7).
    pub fn packet(&self) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: self.polling && !self.final_due,
            final_: self.final_due,
            cpi: false,
            demand: false,
            detect_mult: self.advertised.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx_us: micros(self.advertised.desired_min_tx),
            required_min_rx_us: micros(self.advertised.required_min_rx),
            required_min_echo_rx_us: 0,
        }
    }

    /// Takes a received packet that passed [`ControlPacket::decode`] and
    /// was matched to this session (section 6.8.6).
    pub fn on_packet(&mut self, p: &ControlPacket, now: Instant) -> Result<Vec<Output>, RxError> {
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            return Err(RxError::WrongDiscriminator {
                got: p.your_discriminator,
                ours: self.local_discr,
            });
        }
        if self.admin_down {
            return Err(RxError::AdminDown);
        }
        self.stats.rx_packets += 1;
        let mut out = Vec::new();
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_detect_mult = p.detect_mult;
        self.remote_echo_rx = Duration::from_micros(u64::from(p.required_min_echo_rx_us));
        self.remote_desired_tx = Duration::from_micros(u64::from(p.desired_min_tx_us));
        let old_min_rx = self.remote_min_rx;
        self.remote_min_rx = Duration::from_micros(u64::from(p.required_min_rx_us));
        if p.final_ && self.polling {
            self.poll_done();
        }
        // Section 6.8.6: the state machine.
        match (self.state, p.state) {
            (State::Up | State::Init, State::AdminDown) | (State::Up, State::Down) => {
                self.set_state(State::Down, Diag::NeighborSignaledDown, now, &mut out);
            }
            (_, State::AdminDown) => {}
            (State::Down, State::Down) => {
                self.set_state(State::Init, Diag::None, now, &mut out);
            }
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.set_state(State::Up, Diag::None, now, &mut out);
            }
            _ => {}
        }
        // The detection timer restarts with every packet while the peer
        // is in a state that sends periodically (section 6.8.4).
        self.detect_at = if self.state == State::Down && p.state != State::Init {
            None
        } else {
            Some(now + self.detection_time())
        };
        if p.poll {
            // Section 6.8.6: answer a Poll with Final at once.
            self.final_due = true;
            out.push(Output::Send(self.take_packet()));
        }
        if self.remote_min_rx != old_min_rx {
            // Section 6.8.7: a peer that lowers its Required Min RX gets the
            // new rate from the next packet on.
            self.schedule_tx(now);
        }
        Ok(out)
    }

    /// Does what is due at `now`: the detection time running out (Down
    /// with diag 1) and the periodic packet.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if self.detect_at.is_some_and(|t| now >= t) {
            self.detect_at = None;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(
                    State::Down,
                    Diag::ControlDetectionTimeExpired,
                    now,
                    &mut out,
                );
            }
            // Section 6.8.1: the peer's discriminator is forgotten, and its
            // Required Min RX reset, once the detection time passes.
            self.remote_discr = 0;
            self.remote_state = State::Down;
            self.remote_min_rx = Duration::from_micros(1);
            self.schedule_tx(now);
        }
        if self.next_tx.is_some_and(|t| now >= t) {
            out.push(Output::Send(self.take_packet()));
            self.schedule_tx(now);
        }
        out
    }

    /// New timers (`receive-interval`, ...): while Up, they are negotiated
    /// with a Poll sequence; the transmit rate and detection time change
    /// once the peer answers with Final (section 6.8.3).
    pub fn set_timers(&mut self, timers: Timers, now: Instant) -> Vec<Output> {
        if timers == self.timers() {
            return Vec::new();
        }
        if self.state == State::Up {
            self.pending = Some(timers);
            // Faster transmission waits for the Final; slower starts now.
            self.advertised = Timers {
                desired_min_tx: timers.desired_min_tx,
                required_min_rx: timers.required_min_rx,
                detect_mult: timers.detect_mult,
            };
            if timers.required_min_rx > self.timers.required_min_rx {
                // The peer may send slower once it sees this: the detection
                // time grows at once (section 6.8.3 asks only that a
                // smaller one wait).
                self.timers.required_min_rx = timers.required_min_rx;
            }
            self.polling = true;
            let p = self.take_packet();
            self.schedule_tx(now);
            vec![Output::Send(p)]
        } else {
            self.timers = timers;
            self.advertised = Timers {
                desired_min_tx: SLOW_TX.max(timers.desired_min_tx),
                ..timers
            };
            self.schedule_tx(now);
            Vec::new()
        }
    }

    /// `shutdown` (AdminDown, diag 7) and `no shutdown` (Down).
    pub fn set_admin_down(&mut self, down: bool, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if down == self.admin_down {
            return out;
        }
        self.admin_down = down;
        if down {
            self.set_state(State::AdminDown, Diag::AdministrativelyDown, now, &mut out);
            self.detect_at = None;
            self.remote_discr = 0;
            // Section 6.8.16: tell the peer at once.
            out.push(Output::Send(self.take_packet()));
        } else {
            self.set_state(State::Down, Diag::None, now, &mut out);
        }
        self.schedule_tx(now);
        out
    }

    fn take_packet(&mut self) -> ControlPacket {
        let p = self.packet();
        self.final_due = false;
        self.stats.tx_packets += 1;
        p
    }

    fn poll_done(&mut self) {
        self.polling = false;
        if let Some(t) = self.pending.take() {
            self.timers = t;
        }
    }

    fn set_state(&mut self, to: State, diag: Diag, now: Instant, out: &mut Vec<Output>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.local_diag = diag;
        self.changed_at = now;
        if to == State::Up {
            self.stats.up_count += 1;
            // Up: the configured rate replaces the slow one, through a Poll
            // (section 6.8.3).
            if self.advertised.desired_min_tx != self.timers.desired_min_tx {
                self.advertised.desired_min_tx = self.timers.desired_min_tx;
                self.polling = true;
            }
        } else {
            if from == State::Up {
                self.stats.down_count += 1;
            }
            self.advertised.desired_min_tx = SLOW_TX.max(self.timers.desired_min_tx);
            self.polling = false;
            if let Some(t) = self.pending.take() {
                self.timers = t;
                self.advertised = Timers {
                    desired_min_tx: SLOW_TX.max(t.desired_min_tx),
                    ..t
                };
            }
        }
        out.push(Output::StateChanged { from, to, diag });
        self.schedule_tx(now);
    }

    /// Plans the next periodic packet: the interval less 0 to 25 percent
    /// (0 to 10 percent with Detect Mult 1), section 6.8.7. None while the
    /// peer asks for no packets (Required Min RX zero) or we are
    /// AdminDown with the peer's state unknown.
    fn schedule_tx(&mut self, now: Instant) {
        if self.remote_min_rx.is_zero() && self.remote_discr != 0 {
            self.next_tx = None;
            return;
        }
        let base = self.tx_interval();
        let pct = if self.advertised.detect_mult == 1 {
            self.jitter.percent(75, 90)
        } else {
            self.jitter.percent(75, 100)
        };
        let due = now + base * u32::try_from(pct).unwrap_or(100) / 100;
        // A packet already planned earlier keeps its place, unless the
        // interval just became shorter.
        self.next_tx = Some(match self.next_tx {
            Some(t) if t > now && t <= due => t,
            _ => due,
        });
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Two sessions wired back to back; packets are delivered at once.
    struct Pair {
        a: Session,
        b: Session,
        now: Instant,
        /// Packets to b are lost.
        cut: bool,
        changes: Vec<(char, State, Diag)>,
    }

    impl Pair {
        fn new() -> Pair {
            let now = Instant::now();
            Pair {
                a: Session::new(1, Timers::default(), 7, now),
                b: Session::new(2, Timers::default(), 9, now),
                now,
                cut: false,
                changes: Vec::new(),
            }
        }

        fn deliver(&mut self, from: char, outs: Vec<Output>) {
            let mut queue: Vec<(char, Output)> = outs.into_iter().map(|o| (from, o)).collect();
            while let Some((who, o)) = queue.pop() {
                match o {
                    Output::StateChanged { to, diag, .. } => self.changes.push((who, to, diag)),
                    Output::Send(p) => {
                        if self.cut {
                            continue;
                        }
                        let bytes = p.encode();
                        let p = ControlPacket::decode(&bytes).expect("valid packet");
                        let (peer, name) = if who == 'a' {
                            (&mut self.b, 'b')
                        } else {
                            (&mut self.a, 'a')
                        };
                        if let Ok(more) = peer.on_packet(&p, self.now) {
                            queue.extend(more.into_iter().map(|o| (name, o)));
                        }
                    }
                }
            }
        }

        /// Advances time to `until`, one deadline at a time.
        fn run(&mut self, until: Instant) {
            loop {
                let next = [self.a.next_deadline(), self.b.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= until => {
                        self.now = t.max(self.now);
                        let oa = self.a.on_timer(self.now);
                        self.deliver('a', oa);
                        let ob = self.b.on_timer(self.now);
                        self.deliver('b', ob);
                    }
                    _ => break,
                }
            }
            self.now = until;
        }
    }

    #[test]
    fn comes_up_then_runs_at_the_configured_rate() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.run(t0 + Duration::from_secs(3));
        assert_eq!(p.a.state(), State::Up);
        assert_eq!(p.b.state(), State::Up);
        assert_eq!(p.a.remote_discriminator(), 2);
        assert_eq!(p.b.remote_discriminator(), 1);
        // The Poll sequence to the fast rate is over on both sides.
        assert_eq!(p.a.tx_interval(), 300 * MS);
        assert_eq!(p.b.tx_interval(), 300 * MS);
        assert!(!p.a.packet().poll && !p.b.packet().poll);
        assert_eq!(p.a.detection_time(), 900 * MS);
        // Down -> Init -> Up on one side at least, Down -> Up on the other.
        assert!(p.changes.contains(&('a', State::Up, Diag::None)));
        assert!(p.changes.contains(&('b', State::Up, Diag::None)));
    }

    #[test]
    fn detection_time_expires_within_mult_times_interval() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.run(t0 + Duration::from_secs(3));
        p.changes.clear();
        p.cut = true;
        let cut_at = p.now;
        p.run(cut_at + Duration::from_secs(2));
        let downs: Vec<_> = p.changes.iter().filter(|c| c.1 == State::Down).collect();
        assert_eq!(downs.len(), 2, "{:?}", p.changes);
        assert!(
            downs
                .iter()
                .all(|c| c.2 == Diag::ControlDetectionTimeExpired)
        );
        // Each side noticed within 900 ms of its last packet received
        // (the last one came at most one interval before the cut).
        let t = p.a.changed_at().duration_since(cut_at);
        assert!(t <= 900 * MS, "{t:?}");
        assert_eq!(p.a.remote_discriminator(), 0);
        // And comes back when packets flow again.
        p.cut = false;
        let back = p.now;
        p.run(back + Duration::from_secs(4));
        assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    }

    #[test]
    fn admin_down_takes_the_peer_down_with_diag_3() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.run(t0 + Duration::from_secs(3));
        p.changes.clear();
        let out = p.a.set_admin_down(true, p.now);
        p.deliver('a', out);
        assert_eq!(p.a.state(), State::AdminDown);
        assert_eq!(p.a.local_diag(), Diag::AdministrativelyDown);
        assert_eq!(p.b.state(), State::Down);
        assert_eq!(p.b.local_diag(), Diag::NeighborSignaledDown);
        // b stays Down while a is AdminDown.
        let t = p.now;
        p.run(t + Duration::from_secs(3));
        assert_eq!(p.b.state(), State::Down);
        let out = p.a.set_admin_down(false, p.now);
        p.deliver('a', out);
        let t = p.now;
        p.run(t + Duration::from_secs(4));
        assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    }

    #[test]
    fn timer_change_is_polled_and_applied_on_final() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.run(t0 + Duration::from_secs(3));
        let new = Timers {
            desired_min_tx: 100 * MS,
            required_min_rx: 100 * MS,
            detect_mult: 5,
        };
        let out = p.a.set_timers(new, p.now);
        assert!(matches!(out.as_slice(), [Output::Send(pk)] if pk.poll));
        p.deliver('a', out);
        // b answered with Final at once: a applied the new timers.
        assert_eq!(p.a.timers(), new);
        assert!(!p.a.packet().poll);
        let t = p.now;
        p.run(t + Duration::from_secs(1));
        // b now sends at a's new Required Min RX (its own desired 300 ms
        // still rules), and a's detection time uses b's mult and rate.
        assert_eq!(p.b.remote_timers().detect_mult, 5);
        assert_eq!(p.b.detection_time(), 5 * 300 * MS);
        assert_eq!(p.a.detection_time(), 3 * 300 * MS);
        assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    }

    #[test]
    fn a_slower_rate_waits_for_the_final() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.run(t0 + Duration::from_secs(3));
        let slow = Timers {
            desired_min_tx: 1000 * MS,
            ..Timers::default()
        };
        let out = p.a.set_timers(slow, p.now);
        assert_eq!(p.a.tx_interval(), 300 * MS, "before the Final");
        p.deliver('a', out);
        assert_eq!(p.a.tx_interval(), 1000 * MS, "after the Final");
        // b's detection time follows a's advertised rate.
        assert_eq!(p.b.detection_time(), 3 * 1000 * MS);
    }

    #[test]
    fn jitter_stays_between_75_and_100_percent() {
        let now = Instant::now();
        let mut s = Session::new(5, Timers::default(), 42, now);
        let mut t = now;
        for _ in 0..200 {
            let due = s.next_deadline().expect("periodic tx");
            let gap = due.duration_since(t);
            assert!(gap >= 750 * MS && gap <= 1000 * MS, "{gap:?}");
            t = due;
            let out = s.on_timer(t);
            assert!(matches!(out.as_slice(), [Output::Send(_)]));
        }
    }

    #[test]
    fn refuses_a_packet_for_another_discriminator() {
        let now = Instant::now();
        let mut s = Session::new(5, Timers::default(), 1, now);
        let mut pk = Session::new(6, Timers::default(), 1, now).packet();
        pk.your_discriminator = 99;
        assert_eq!(
            s.on_packet(&pk, now),
            Err(RxError::WrongDiscriminator { got: 99, ours: 5 })
        );
    }
}
