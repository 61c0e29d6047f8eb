//! The BGP session finite state machine (RFC 4271 section 8), sans-IO.
//!
//! `Fsm::process(event) -> Vec<Action>`: the session task around it owns the
//! TCP connection and the timers, turns what happens into [`Event`]s and
//! carries out the [`Action`]s. The FSM never blocks, never reads a clock and
//! is tested without sockets. Event names follow RFC 4271 section 8.1 (the
//! numbers in comments are the RFC's event numbers).
//!
//! Automatic restart: after a session fails, the FSM waits in Idle for the
//! IdleHold timer (doubling from 1 s up to 60 s while failures repeat, reset
//! once a session is Established) and starts again, as FRR and BIRD do. A
//! ManualStop stays down.
use std::{net::Ipv4Addr, time::Duration};

use tern_bgp_wire::{Codec, NotificationMessage, OpenMessage, code, open_subcode};

/// RFC 4271 section 8.2.2's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// The name FRR prints in `show bgp neighbors` / summary.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

/// The session's timers; the task runs them and reports expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
    /// Delay before an automatic restart after a failure.
    IdleHold,
}

/// Which AS the peer must be in (`neighbor X remote-as ASN|internal|external`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAs {
    Asn(u32),
    Internal,
    External,
}

/// What the FSM needs to know about its peer.
#[derive(Clone, Debug)]
pub struct FsmConfig {
    pub local_as: u32,
    pub local_id: Ipv4Addr,
    pub remote_as: RemoteAs,
    /// Hold time we propose (0 disables keepalives and the hold timer).
    pub hold_time: u16,
    /// Keepalive interval we use (capped to a third of the negotiated hold).
    pub keepalive: u16,
    pub connect_retry: u16,
    /// Only wait for the peer to connect.
    pub passive: bool,
    /// The OPEN we send (capabilities included).
    pub open: OpenMessage,
}

/// RFC 4271 section 8.1's events the FSM handles.
#[derive(Clone, Debug)]
pub enum Event {
    /// 1: ManualStart (or 4 with passive).
    ManualStart,
    /// 2: ManualStop: administrative shutdown.
    ManualStop,
    /// Like ManualStop, but the session ends with this Cease (e.g. Maximum
    /// Number of Prefixes Reached): down, and no automatic restart.
    StopWith(NotificationMessage),
    /// 8: AutomaticStop: we end the session ourselves (`clear bgp`) with
    /// this Cease; it starts again after the idle hold time, so that the
    /// peer has closed its side before we connect again.
    AutomaticStop(NotificationMessage),
    /// ManualStart after the idle hold time: a neighbor re-created by a
    /// configuration change waits, as after AutomaticStop.
    DelayedStart,
    /// 9
    ConnectRetryTimerExpires,
    /// 10
    HoldTimerExpires,
    /// RFC 9687: nothing could be written for the send hold time.
    SendHoldTimerExpires,
    /// 11
    KeepaliveTimerExpires,
    /// 13 (IdleHoldTimer_Expires), which leads to an automatic start (3/5).
    IdleHoldTimerExpires,
    /// 16/17: an outgoing connection completed, or an incoming one accepted.
    TcpConnected,
    /// 18
    TcpConnectionFails,
    /// 19: a valid OPEN (its checks are done here).
    OpenReceived(OpenMessage),
    /// 21/22/28: the decoder refused a message; this NOTIFICATION goes out.
    MessageError(NotificationMessage),
    /// 25/24
    NotificationReceived(NotificationMessage),
    /// 26
    KeepaliveReceived,
    /// 27 (UPDATE) and ROUTE-REFRESH: they keep the session alive.
    UpdateReceived,
}

/// Why a session went down, for the log and `show bgp neighbors`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    Sent(NotificationMessage),
    /// The peer sent this NOTIFICATION.
    Received(NotificationMessage),
    /// The TCP connection failed or closed.
    ConnectionClosed,
    /// ManualStop.
    Stopped,
}

/// What the session task must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open an outgoing TCP connection (unless one is already up).
    Connect,
    /// Close the TCP connection.
    Disconnect,
    SendOpen(OpenMessage),
    SendKeepalive,
    SendNotification(NotificationMessage),
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    /// The session reached Established with this negotiated state.
    Established(Box<Session>),
    /// The session left OpenConfirm/Established (routes must be flushed) or
    /// failed before.
    Down(DownReason),
}

/// A negotiated session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub remote_open: OpenMessage,
    pub codec: Codec,
    pub hold_time: u16,
    pub keepalive: u16,
    /// The peer's AS is ours.
    pub ibgp: bool,
}

/// How long an OpenSent connection may wait for the peer's OPEN (RFC 4271
/// suggests 4 minutes).
const LARGE_HOLD: Duration = Duration::from_secs(240);
const IDLE_HOLD_MIN: u64 = 1;
const IDLE_HOLD_MAX: u64 = 60;

/// RFC 6608 FSM Error subcodes.
mod fsm_subcode {
    pub const UNEXPECTED_IN_OPENSENT: u8 = 1;
    pub const UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// RFC 4486 Cease subcodes used here.
pub mod cease {
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
}

/// One peer's session state machine.
#[derive(Debug)]
pub struct Fsm {
    config: FsmConfig,
    state: State,
    /// Negotiated while OpenConfirm/Established.
    session: Option<Session>,
    idle_hold: u64,
    /// A ManualStop is in force: no automatic restart.
    stopped: bool,
    /// Times the session reached Established / left it.
    pub established_count: u32,
    pub dropped_count: u32,
    pub last_reason: Option<DownReason>,
}

impl Fsm {
    pub fn new(config: FsmConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            session: None,
            idle_hold: IDLE_HOLD_MIN,
            stopped: true,
            established_count: 0,
            dropped_count: 0,
            last_reason: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    pub fn config(&self) -> &FsmConfig {
        &self.config
    }

    /// Changes whether the FSM connects out when it (re)starts.
    pub fn set_passive(&mut self, passive: bool) {
        self.config.passive = passive;
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn process(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        use Event as E;
        use State as S;
        match (self.state, event) {
            // Starting. ManualStart in any state but Idle is ignored (8.2.2).
            (S::Idle, E::ManualStart) => {
                self.stopped = false;
                self.start(&mut out);
            }
            (S::Idle, E::IdleHoldTimerExpires) if !self.stopped => self.start(&mut out),
            (_, E::ManualStart) => {}
            (S::Idle, E::DelayedStart) if self.stopped => {
                self.stopped = false;
                out.push(Action::StartTimer(
                    Timer::IdleHold,
                    Duration::from_secs(self.idle_hold),
                ));
            }
            (_, E::DelayedStart) => {}
            (S::Idle, _) => {}

            (_, E::AutomaticStop(n)) => {
                if matches!(self.state, S::OpenSent | S::OpenConfirm | S::Established) {
                    out.push(Action::SendNotification(n.clone()));
                }
                self.fail(&mut out, DownReason::Sent(n));
            }

            (_, E::StopWith(n)) => {
                self.stopped = true;
                if matches!(self.state, S::OpenSent | S::OpenConfirm | S::Established) {
                    out.push(Action::SendNotification(n.clone()));
                }
                self.enter_idle(&mut out, DownReason::Sent(n));
            }
            (_, E::ManualStop) => {
                self.stopped = true;
                if matches!(self.state, S::OpenSent | S::OpenConfirm | S::Established) {
                    out.push(Action::SendNotification(NotificationMessage::cease(
                        cease::ADMINISTRATIVE_SHUTDOWN,
                    )));
                }
                self.enter_idle(&mut out, DownReason::Stopped);
            }

            // Connect and Active: waiting for a TCP connection.
            (S::Connect | S::Active, E::TcpConnected) => {
                out.push(Action::StopTimer(Timer::ConnectRetry));
                out.push(Action::SendOpen(self.config.open.clone()));
                out.push(Action::StartTimer(Timer::Hold, LARGE_HOLD));
                self.state = S::OpenSent;
            }
            (S::Connect, E::ConnectRetryTimerExpires) => {
                out.push(Action::Disconnect);
                out.push(Action::Connect);
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.connect_retry(),
                ));
            }
            (S::Connect, E::TcpConnectionFails) => {
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.connect_retry(),
                ));
                self.state = S::Active;
            }
            (S::Active, E::ConnectRetryTimerExpires) => {
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.connect_retry(),
                ));
                if !self.config.passive {
                    out.push(Action::Connect);
                    self.state = S::Connect;
                }
            }
            (S::Active, E::TcpConnectionFails) => {
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.connect_retry(),
                ));
            }
            (S::Connect | S::Active, E::NotificationReceived(n)) => {
                self.fail(&mut out, DownReason::Received(n));
            }
            (S::Connect | S::Active, _) => {
                // A message before any OPEN exchange, or a stray timer.
                out.push(Action::Disconnect);
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.connect_retry(),
                ));
                self.state = S::Active;
            }

            // OpenSent: our OPEN is out, waiting for theirs.
            (S::OpenSent, E::OpenReceived(open)) => match self.check_open(&open) {
                Err(n) => self.send_and_fail(&mut out, n),
                Ok(session) => {
                    out.push(Action::SendKeepalive);
                    self.arm_timers(&mut out, &session);
                    self.session = Some(session);
                    self.state = S::OpenConfirm;
                }
            },
            (S::OpenSent, E::TcpConnectionFails) => {
                out.push(Action::Disconnect);
                out.push(Action::StopTimer(Timer::Hold));
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.connect_retry(),
                ));
                self.state = S::Active;
            }

            // OpenConfirm: OPENs exchanged, waiting for their KEEPALIVE.
            (S::OpenConfirm, E::KeepaliveReceived) => {
                if let Some(s) = &self.session {
                    if s.hold_time > 0 {
                        out.push(Action::StartTimer(
                            Timer::Hold,
                            Duration::from_secs(u64::from(s.hold_time)),
                        ));
                    }
                    out.push(Action::Established(Box::new(s.clone())));
                }
                self.state = S::Established;
                self.idle_hold = IDLE_HOLD_MIN;
                self.established_count += 1;
            }

            // Established.
            (S::Established, E::KeepaliveReceived | E::UpdateReceived) => {
                if let Some(s) = &self.session
                    && s.hold_time > 0
                {
                    out.push(Action::StartTimer(
                        Timer::Hold,
                        Duration::from_secs(u64::from(s.hold_time)),
                    ));
                }
            }

            // Shared by OpenSent, OpenConfirm and Established.
            (S::OpenConfirm | S::Established, E::KeepaliveTimerExpires) => {
                out.push(Action::SendKeepalive);
                if let Some(s) = &self.session
                    && s.keepalive > 0
                {
                    out.push(Action::StartTimer(
                        Timer::Keepalive,
                        Duration::from_secs(u64::from(s.keepalive)),
                    ));
                }
            }
            (_, E::HoldTimerExpires) => {
                self.send_and_fail(&mut out, NotificationMessage::hold_timer_expired());
            }
            (_, E::SendHoldTimerExpires) => {
                // Best effort: the peer is not reading, it will hardly get it.
                let n = NotificationMessage::new(code::SEND_HOLD_TIMER_EXPIRED, 0, Vec::new());
                self.send_and_fail(&mut out, n);
            }
            (_, E::MessageError(n)) => self.send_and_fail(&mut out, n),
            (_, E::NotificationReceived(n)) => self.fail(&mut out, DownReason::Received(n)),
            (_, E::TcpConnectionFails) => self.fail(&mut out, DownReason::ConnectionClosed),
            (S::OpenSent | S::OpenConfirm | S::Established, E::ConnectRetryTimerExpires) => {
                // A stale timer: the connection is already up.
            }
            (S::OpenSent, E::KeepaliveTimerExpires) => {}
            (_, E::IdleHoldTimerExpires) => {}
            // Anything else is a message the state does not expect (RFC 6608).
            (state, _) => {
                let sub = match state {
                    S::OpenSent => fsm_subcode::UNEXPECTED_IN_OPENSENT,
                    S::OpenConfirm => fsm_subcode::UNEXPECTED_IN_OPENCONFIRM,
                    _ => fsm_subcode::UNEXPECTED_IN_ESTABLISHED,
                };
                self.send_and_fail(
                    &mut out,
                    NotificationMessage::new(code::FSM_ERROR, sub, Vec::new()),
                );
            }
        }
        out
    }

    fn connect_retry(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.connect_retry.max(1)))
    }

    fn start(&mut self, out: &mut Vec<Action>) {
        out.push(Action::StartTimer(
            Timer::ConnectRetry,
            self.connect_retry(),
        ));
        if self.config.passive {
            self.state = State::Active;
        } else {
            out.push(Action::Connect);
            self.state = State::Connect;
        }
    }

    fn arm_timers(&self, out: &mut Vec<Action>, s: &Session) {
        if s.hold_time > 0 {
            out.push(Action::StartTimer(
                Timer::Hold,
                Duration::from_secs(u64::from(s.hold_time)),
            ));
            out.push(Action::StartTimer(
                Timer::Keepalive,
                Duration::from_secs(u64::from(s.keepalive)),
            ));
        } else {
            out.push(Action::StopTimer(Timer::Hold));
            out.push(Action::StopTimer(Timer::Keepalive));
        }
    }

    /// RFC 4271 section 6.2's checks of a received OPEN that depend on our
    /// configuration (the decoder already checked version and parameters).
    fn check_open(&self, open: &OpenMessage) -> Result<Session, NotificationMessage> {
        let err =
            |sub: u8, data: Vec<u8>| NotificationMessage::new(code::OPEN_MESSAGE_ERROR, sub, data);
        let asn = open.asn();
        let ok_as = match self.config.remote_as {
            RemoteAs::Asn(a) => asn == a,
            RemoteAs::Internal => asn == self.config.local_as,
            RemoteAs::External => asn != self.config.local_as,
        };
        if !ok_as {
            // The data is the 2-octet AS field as received.
            return Err(err(
                open_subcode::BAD_PEER_AS,
                open.my_as.to_be_bytes().to_vec(),
            ));
        }
        let ibgp = asn == self.config.local_as;
        let id = open.bgp_id;
        if id.is_unspecified() || id.is_broadcast() || (ibgp && id == self.config.local_id) {
            return Err(err(open_subcode::BAD_BGP_IDENTIFIER, id.octets().to_vec()));
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return Err(err(
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                open.hold_time.to_be_bytes().to_vec(),
            ));
        }
        let hold_time = self.config.hold_time.min(open.hold_time);
        let keepalive = if hold_time == 0 {
            0
        } else {
            self.config.keepalive.clamp(1, (hold_time / 3).max(1))
        };
        Ok(Session {
            codec: Codec::negotiate(&self.config.open, open),
            remote_open: open.clone(),
            hold_time,
            keepalive,
            ibgp,
        })
    }

    fn send_and_fail(&mut self, out: &mut Vec<Action>, n: NotificationMessage) {
        out.push(Action::SendNotification(n.clone()));
        self.fail(out, DownReason::Sent(n));
    }

    /// A failure: close, go Idle, and arm the automatic restart.
    fn fail(&mut self, out: &mut Vec<Action>, reason: DownReason) {
        self.enter_idle(out, reason);
        out.push(Action::StartTimer(
            Timer::IdleHold,
            Duration::from_secs(self.idle_hold),
        ));
        self.idle_hold = (self.idle_hold * 2).min(IDLE_HOLD_MAX);
    }

    fn enter_idle(&mut self, out: &mut Vec<Action>, reason: DownReason) {
        out.push(Action::Disconnect);
        for t in [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::IdleHold,
        ] {
            out.push(Action::StopTimer(t));
        }
        if self.state == State::Established {
            self.dropped_count += 1;
        }
        self.session = None;
        self.state = State::Idle;
        self.last_reason = Some(reason.clone());
        out.push(Action::Down(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_bgp_wire::Capability;

    const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
    const PEER_ID: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    fn open(asn: u32, hold: u16, id: Ipv4Addr) -> OpenMessage {
        OpenMessage::new(asn, hold, id, vec![Capability::FourOctetAs(asn)])
    }

    fn fsm(remote_as: RemoteAs, passive: bool) -> Fsm {
        Fsm::new(FsmConfig {
            local_as: 65001,
            local_id: LOCAL_ID,
            remote_as,
            hold_time: 9,
            keepalive: 3,
            connect_retry: 10,
            passive,
            open: open(65001, 9, LOCAL_ID),
        })
    }

    fn has(actions: &[Action], want: &Action) -> bool {
        actions.iter().any(|a| a == want)
    }

    fn established(f: &mut Fsm) {
        f.process(Event::ManualStart);
        f.process(Event::TcpConnected);
        f.process(Event::OpenReceived(open(65000, 180, PEER_ID)));
        let a = f.process(Event::KeepaliveReceived);
        assert!(a.iter().any(|a| matches!(a, Action::Established(_))));
        assert_eq!(f.state(), State::Established);
    }

    #[test]
    fn active_peer_reaches_established_with_negotiated_timers() {
        let mut f = fsm(RemoteAs::Asn(65000), false);
        let a = f.process(Event::ManualStart);
        assert_eq!(f.state(), State::Connect);
        assert!(has(&a, &Action::Connect));
        let a = f.process(Event::TcpConnected);
        assert_eq!(f.state(), State::OpenSent);
        assert!(a.iter().any(|a| matches!(a, Action::SendOpen(_))));
        let a = f.process(Event::OpenReceived(open(65000, 180, PEER_ID)));
        assert_eq!(f.state(), State::OpenConfirm);
        assert!(has(&a, &Action::SendKeepalive));
        // min(9, 180) = 9; keepalive 3.
        assert!(has(
            &a,
            &Action::StartTimer(Timer::Hold, Duration::from_secs(9))
        ));
        assert!(has(
            &a,
            &Action::StartTimer(Timer::Keepalive, Duration::from_secs(3))
        ));
        let a = f.process(Event::KeepaliveReceived);
        assert_eq!(f.state(), State::Established);
        let Some(Action::Established(s)) = a.iter().find(|a| matches!(a, Action::Established(_)))
        else {
            panic!("no Established action: {a:?}")
        };
        assert!(!s.ibgp);
        assert!(s.codec.four_octet_as);
        // Keepalives keep it up; the keepalive timer sends one.
        let a = f.process(Event::KeepaliveTimerExpires);
        assert!(has(&a, &Action::SendKeepalive));
        let a = f.process(Event::UpdateReceived);
        assert!(has(
            &a,
            &Action::StartTimer(Timer::Hold, Duration::from_secs(9))
        ));
    }

    #[test]
    fn passive_peer_waits_in_active() {
        let mut f = fsm(RemoteAs::External, true);
        let a = f.process(Event::ManualStart);
        assert_eq!(f.state(), State::Active);
        assert!(!has(&a, &Action::Connect));
        let a = f.process(Event::ConnectRetryTimerExpires);
        assert!(!has(&a, &Action::Connect));
        assert_eq!(f.state(), State::Active);
        f.process(Event::TcpConnected);
        assert_eq!(f.state(), State::OpenSent);
    }

    #[test]
    fn wrong_peer_as_is_refused_with_bad_peer_as() {
        let mut f = fsm(RemoteAs::Asn(65000), false);
        f.process(Event::ManualStart);
        f.process(Event::TcpConnected);
        let a = f.process(Event::OpenReceived(open(65099, 180, PEER_ID)));
        let sent = a.iter().find_map(|a| match a {
            Action::SendNotification(n) => Some(n.clone()),
            _ => None,
        });
        let n = sent.expect("notification sent");
        assert_eq!((n.code, n.subcode), (2, 2));
        assert_eq!(n.data, 65099u16.to_be_bytes());
        assert_eq!(f.state(), State::Idle);
        assert!(has(
            &a,
            &Action::StartTimer(Timer::IdleHold, Duration::from_secs(1))
        ));
        // Automatic restart after the idle hold, with back-off next time.
        let a = f.process(Event::IdleHoldTimerExpires);
        assert!(has(&a, &Action::Connect));
        f.process(Event::TcpConnected);
        let a = f.process(Event::OpenReceived(open(65099, 180, PEER_ID)));
        assert!(has(
            &a,
            &Action::StartTimer(Timer::IdleHold, Duration::from_secs(2))
        ));
    }

    #[test]
    fn internal_and_external_remote_as() {
        let mut f = fsm(RemoteAs::Internal, false);
        f.process(Event::ManualStart);
        f.process(Event::TcpConnected);
        f.process(Event::OpenReceived(open(65001, 180, PEER_ID)));
        assert_eq!(f.state(), State::OpenConfirm);
        assert!(f.session().is_some_and(|s| s.ibgp));

        let mut f = fsm(RemoteAs::External, false);
        f.process(Event::ManualStart);
        f.process(Event::TcpConnected);
        f.process(Event::OpenReceived(open(65001, 180, PEER_ID)));
        assert_eq!(f.state(), State::Idle, "external peer in our own AS");
    }

    #[test]
    fn bad_identifier_and_hold_time() {
        let mut f = fsm(RemoteAs::Internal, false);
        f.process(Event::ManualStart);
        f.process(Event::TcpConnected);
        let a = f.process(Event::OpenReceived(open(65001, 180, LOCAL_ID)));
        assert!(
            a.iter()
                .any(|a| matches!(a, Action::SendNotification(n) if n.code == 2 && n.subcode == 3))
        );

        let mut f = fsm(RemoteAs::External, false);
        f.process(Event::ManualStart);
        f.process(Event::TcpConnected);
        let a = f.process(Event::OpenReceived(open(65000, 2, PEER_ID)));
        assert!(
            a.iter()
                .any(|a| matches!(a, Action::SendNotification(n) if n.code == 2 && n.subcode == 6))
        );
    }

    #[test]
    fn zero_hold_time_disables_keepalives() {
        let mut f = fsm(RemoteAs::External, false);
        f.process(Event::ManualStart);
        f.process(Event::TcpConnected);
        let a = f.process(Event::OpenReceived(open(65000, 0, PEER_ID)));
        assert!(has(&a, &Action::StopTimer(Timer::Hold)));
        assert!(
            f.session()
                .is_some_and(|s| s.hold_time == 0 && s.keepalive == 0)
        );
    }

    #[test]
    fn hold_timer_expiry_and_peer_notification_go_down() {
        let mut f = fsm(RemoteAs::External, false);
        established(&mut f);
        let a = f.process(Event::HoldTimerExpires);
        assert!(
            a.iter()
                .any(|a| matches!(a, Action::SendNotification(n) if n.code == 4))
        );
        assert!(a.iter().any(|a| matches!(a, Action::Down(_))));
        assert_eq!(f.dropped_count, 1);

        let mut f = fsm(RemoteAs::External, false);
        established(&mut f);
        let a = f.process(Event::NotificationReceived(NotificationMessage::cease(2)));
        assert!(has(&a, &Action::Disconnect));
        assert!(!a.iter().any(|a| matches!(a, Action::SendNotification(_))));
        assert_eq!(f.state(), State::Idle);
    }

    #[test]
    fn unexpected_open_in_established_is_an_fsm_error() {
        let mut f = fsm(RemoteAs::External, false);
        established(&mut f);
        let a = f.process(Event::OpenReceived(open(65000, 180, PEER_ID)));
        assert!(
            a.iter()
                .any(|a| matches!(a, Action::SendNotification(n) if n.code == 5 && n.subcode == 3))
        );
    }

    #[test]
    fn manual_stop_sends_cease_and_stays_down() {
        let mut f = fsm(RemoteAs::External, false);
        established(&mut f);
        let a = f.process(Event::ManualStop);
        assert!(
            a.iter()
                .any(|a| matches!(a, Action::SendNotification(n) if n.code == 6 && n.subcode == 2))
        );
        assert!(
            !a.iter()
                .any(|a| matches!(a, Action::StartTimer(Timer::IdleHold, _)))
        );
        assert!(f.process(Event::IdleHoldTimerExpires).is_empty());
        assert_eq!(f.state(), State::Idle);
    }

    #[test]
    fn automatic_stop_sends_cease_and_restarts_after_the_idle_hold() {
        let mut f = fsm(RemoteAs::External, false);
        established(&mut f);
        let a = f.process(Event::AutomaticStop(NotificationMessage::cease(4)));
        assert!(
            a.iter()
                .any(|a| matches!(a, Action::SendNotification(n) if n.code == 6 && n.subcode == 4))
        );
        assert!(has(&a, &Action::Disconnect));
        // No connect now: the peer first closes its side.
        assert!(!has(&a, &Action::Connect));
        assert!(has(
            &a,
            &Action::StartTimer(Timer::IdleHold, Duration::from_secs(1))
        ));
        assert_eq!(f.state(), State::Idle);
        let a = f.process(Event::IdleHoldTimerExpires);
        assert!(has(&a, &Action::Connect));
        assert_eq!(f.state(), State::Connect);
    }

    #[test]
    fn delayed_start_connects_after_the_idle_hold() {
        let mut f = fsm(RemoteAs::External, false);
        let a = f.process(Event::DelayedStart);
        assert!(!has(&a, &Action::Connect));
        assert!(has(
            &a,
            &Action::StartTimer(Timer::IdleHold, Duration::from_secs(1))
        ));
        assert!(has(
            &f.process(Event::IdleHoldTimerExpires),
            &Action::Connect
        ));
    }

    #[test]
    fn connection_failure_before_open_retries() {
        let mut f = fsm(RemoteAs::External, false);
        f.process(Event::ManualStart);
        let a = f.process(Event::TcpConnectionFails);
        assert_eq!(f.state(), State::Active);
        assert!(has(
            &a,
            &Action::StartTimer(Timer::ConnectRetry, Duration::from_secs(10))
        ));
        let a = f.process(Event::ConnectRetryTimerExpires);
        assert!(has(&a, &Action::Connect));
        assert_eq!(f.state(), State::Connect);
    }
}
