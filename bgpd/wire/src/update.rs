//! UPDATE message (RFC 4271 §4.3): decoding with the revised error handling
//! of RFC 7606 (each malformation costs attribute-discard, treat-as-withdraw
//! or session-reset, per attribute as RFC 7606 §7, RFC 6793 §6, RFC 7607,
//! RFC 8092 §6, RFC 8669 §6 and RFC 9234 §5 say), encoding, End-of-RIB
//! markers (RFC 4724).
//!
//! What the codec cannot know is left to the session: whether the peer is
//! internal (LOCAL_PREF required, ORIGINATOR_ID / CLUSTER_LIST allowed,
//! confederation segments allowed), the first-AS check, next hops that are
//! our own addresses, and route policy.

use crate::attr_type;
use crate::attributes::{
    AsSegmentType, AttrFlags, Attribute, MpReachNlri, MpUnreachNlri, PathAttribute,
};
use crate::codec::Codec;
use crate::error::EncodeError;
use crate::family::{AfiSafi, NlriKind};
use crate::nlri::{Nlri, decode_nlri, encode_nlri};
use crate::reader::Reader;
use crate::revised::{Action, AttributeIssue, Fault, UpdateError, UpdateOutcome};

/// UPDATE message body.
///
/// ```text
/// +-----------------------------------------------------+
/// | withdrawn routes length (2 octets)                  |
/// +-----------------------------------------------------+
/// | withdrawn routes: IPv4 unicast prefixes (variable)  |
/// +-----------------------------------------------------+
/// | total path attribute length (2 octets)              |
/// +-----------------------------------------------------+
/// | path attributes (variable)                          |
/// +-----------------------------------------------------+
/// | NLRI: IPv4 unicast prefixes, to the end (variable)  |
/// +-----------------------------------------------------+
/// ```
///
/// Routes of other families travel in the MP_REACH_NLRI / MP_UNREACH_NLRI
/// attributes. Use [`UpdateMessage::announced`] and
/// [`UpdateMessage::withdrawals`] to read routes of all families with the
/// RFC 7606 outcome applied.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpdateMessage {
    /// Withdrawn IPv4 unicast routes.
    pub withdrawn: Vec<Nlri>,
    /// Path attributes in received order, without the ones RFC 7606 discarded.
    pub attributes: Vec<PathAttribute>,
    /// Announced IPv4 unicast routes.
    pub nlri: Vec<Nlri>,
    /// The RFC 7606 verdict reached while decoding: check it before using
    /// the content. Not encoded; `Accept` for an UPDATE built to be sent.
    pub outcome: UpdateOutcome,
}

/// Collects the issues found while decoding one UPDATE.
#[derive(Default)]
struct Verdict {
    issues: Vec<AttributeIssue>,
    reset: Option<UpdateError>,
}

impl Verdict {
    /// Records a fault; the first session-reset fault wins.
    fn note(&mut self, type_code: u8, fault: Fault, action: Action, raw_attr: &[u8]) {
        if action == Action::SessionReset {
            if self.reset.is_none() {
                let data = notification_data(type_code, &fault, raw_attr);
                self.reset = Some(UpdateError {
                    type_code,
                    fault,
                    data,
                });
            }
        } else {
            self.issues.push(AttributeIssue {
                type_code,
                fault,
                action,
            });
        }
    }

    fn outcome(self) -> UpdateOutcome {
        if let Some(e) = self.reset {
            return UpdateOutcome::SessionReset(e);
        }
        match self.issues.iter().map(|i| i.action).max() {
            None => UpdateOutcome::Accept,
            Some(Action::AttributeDiscard) => UpdateOutcome::AttributeDiscard(self.issues),
            Some(_) => UpdateOutcome::TreatAsWithdraw(self.issues),
        }
    }
}

/// NOTIFICATION data per RFC 4271 §6.3: the attribute for attribute
/// errors, the type code for a missing attribute, nothing otherwise.
fn notification_data(type_code: u8, fault: &Fault, raw_attr: &[u8]) -> Vec<u8> {
    use crate::notification::update_subcode as s;
    match fault.subcode(type_code) {
        s::MISSING_WELL_KNOWN_ATTRIBUTE => vec![type_code],
        s::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE
        | s::ATTRIBUTE_FLAGS_ERROR
        | s::ATTRIBUTE_LENGTH_ERROR
        | s::INVALID_ORIGIN_ATTRIBUTE
        | s::INVALID_NEXT_HOP_ATTRIBUTE
        | s::OPTIONAL_ATTRIBUTE_ERROR => raw_attr.to_vec(),
        _ => Vec::new(),
    }
}

/// The RFC 7606 action for a malformed attribute of type `code`.
fn action_for(code: u8, fault: &Fault) -> Action {
    use attr_type as t;
    let mp = matches!(code, t::MP_REACH_NLRI | t::MP_UNREACH_NLRI);
    match fault {
        // RFC 4271 §6.3, unchanged by RFC 7606.
        Fault::UnrecognizedWellKnown => Action::SessionReset,
        // RFC 7606 §3 (g).
        Fault::Duplicate if mp => Action::SessionReset,
        Fault::Duplicate => Action::AttributeDiscard,
        // RFC 7606 §7.11, §7.12; §5.3 for their NLRI.
        _ if mp => Action::SessionReset,
        // RFC 9252 §7: a malformed SRv6 Service TLV withdraws the routes
        // (discarding the Prefix-SID would leave VPN routes without their
        // service).
        Fault::PrefixSidSrv6(_) => Action::TreatAsWithdraw,
        _ => match code {
            // RFC 7606 §7.6, §7.7; RFC 6793 §6 for the AS4 attributes; RFC 7607;
            // Prefix-SID (RFC 8669 §6: "attribute discard").
            t::ATOMIC_AGGREGATE
            | t::AGGREGATOR
            | t::AS4_PATH
            | t::AS4_AGGREGATOR
            | t::PREFIX_SID => Action::AttributeDiscard,
            // ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF (§7.1-§7.5),
            // COMMUNITIES (§7.8), ORIGINATOR_ID, CLUSTER_LIST (§7.9, §7.10),
            // EXTENDED_COMMUNITIES (§7.14), LARGE_COMMUNITY (RFC 8092 §6),
            // PMSI Tunnel, Tunnel Encapsulation and IPv6 Address Specific
            // Extended Communities (as §7.14; FRR does the same), OTC
            // (RFC 9234 §5); flags errors (§3 (c)).
            _ => Action::TreatAsWithdraw,
        },
    }
}

/// NEXT_HOP values that cannot be a next hop (martians, RFC 4271 §6.3
/// "syntactically incorrect"): treat-as-withdraw.
fn is_martian_next_hop(a: std::net::Ipv4Addr) -> bool {
    // 0.0.0.0/8, 127.0.0.0/8, multicast 224.0.0.0/4 and 240.0.0.0/4 (class
    // E and the broadcast address), as FRR refuses them.
    let first = a.octets()[0];
    first == 0 || first == 127 || first >= 224
}

impl UpdateMessage {
    /// An UPDATE to send.
    pub fn new(withdrawn: Vec<Nlri>, attributes: Vec<PathAttribute>, nlri: Vec<Nlri>) -> Self {
        Self {
            withdrawn,
            attributes,
            nlri,
            outcome: UpdateOutcome::Accept,
        }
    }

    /// The End-of-RIB marker of `family` (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, an UPDATE with an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib_marker(family: AfiSafi) -> Self {
        if family == AfiSafi::IPV4_UNICAST {
            return Self::default();
        }
        Self::new(
            Vec::new(),
            vec![PathAttribute::new(Attribute::MpUnreachNlri(
                MpUnreachNlri::end_of_rib(family),
            ))],
            Vec::new(),
        )
    }

    /// The family whose End-of-RIB this UPDATE is, if it is one.
    pub fn end_of_rib(&self) -> Option<AfiSafi> {
        if self.outcome != UpdateOutcome::Accept
            || !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
        {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(AfiSafi::IPV4_UNICAST),
            [
                PathAttribute {
                    value: Attribute::MpUnreachNlri(mp),
                    ..
                },
            ] if mp.withdrawn.is_empty() => Some(mp.family),
            _ => None,
        }
    }

    /// The first attribute of type `code`.
    pub fn attribute(&self, code: u8) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == code)
    }

    pub fn mp_reach(&self) -> Option<&MpReachNlri> {
        self.attributes.iter().find_map(|a| match &a.value {
            Attribute::MpReachNlri(mp) => Some(mp),
            _ => None,
        })
    }

    pub fn mp_unreach(&self) -> Option<&MpUnreachNlri> {
        self.attributes.iter().find_map(|a| match &a.value {
            Attribute::MpUnreachNlri(mp) => Some(mp),
            _ => None,
        })
    }

    fn all_announced(&self) -> impl Iterator<Item = (AfiSafi, &Nlri)> {
        let classic = self.nlri.iter().map(|n| (AfiSafi::IPV4_UNICAST, n));
        let mp = self
            .mp_reach()
            .into_iter()
            .flat_map(|mp| mp.nlri.iter().map(move |n| (mp.family, n)));
        classic.chain(mp)
    }

    /// Routes to install with this UPDATE's attributes: the NLRI field
    /// (IPv4 unicast) and MP_REACH_NLRI. Empty when the outcome is
    /// treat-as-withdraw or session-reset.
    pub fn announced(&self) -> Vec<(AfiSafi, &Nlri)> {
        match self.outcome {
            UpdateOutcome::Accept | UpdateOutcome::AttributeDiscard(_) => {
                self.all_announced().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Routes to remove: the Withdrawn Routes field and MP_UNREACH_NLRI, plus
    /// every announced route when the outcome is treat-as-withdraw. Empty on
    /// session-reset (the whole session's routes go).
    pub fn withdrawals(&self) -> Vec<(AfiSafi, &Nlri)> {
        if matches!(self.outcome, UpdateOutcome::SessionReset(_)) {
            return Vec::new();
        }
        let classic = self.withdrawn.iter().map(|n| (AfiSafi::IPV4_UNICAST, n));
        let mp = self
            .mp_unreach()
            .into_iter()
            .flat_map(|mp| mp.withdrawn.iter().map(move |n| (mp.family, n)));
        let mut out: Vec<_> = classic.chain(mp).collect();
        if matches!(self.outcome, UpdateOutcome::TreatAsWithdraw(_)) {
            out.extend(self.all_announced());
        }
        out
    }

    /// Decodes an UPDATE body (the bytes after the header). Never fails:
    /// problems are reported in `outcome` (RFC 7606), a session reset
    /// included.
    pub fn decode(body: &[u8], ctx: &Codec) -> UpdateMessage {
        let mut msg = UpdateMessage::default();
        let mut verdict = Verdict::default();
        msg.decode_into(body, ctx, &mut verdict);
        msg.outcome = verdict.outcome();
        msg
    }

    fn decode_into(&mut self, body: &[u8], ctx: &Codec, v: &mut Verdict) {
        let mut r = Reader::new(body);
        let reset = |v: &mut Verdict, fault: Fault| v.note(0, fault, Action::SessionReset, &[]);
        // RFC 4271 §6.3: lengths that overrun the message are a Malformed
        // Attribute List; nothing after them can be located.
        let Some(withdrawn) = r.u16().and_then(|n| r.take(usize::from(n))) else {
            return reset(v, Fault::WithdrawnRoutesLength);
        };
        let Some(attrs) = r.u16().and_then(|n| r.take(usize::from(n))) else {
            return reset(v, Fault::TotalAttributeLength);
        };
        let add_path = ctx.receives_path_id(AfiSafi::IPV4_UNICAST);
        // RFC 7606 §3 (i) and §5.3: unparseable Withdrawn Routes or NLRI
        // field means session reset.
        match decode_nlri(withdrawn, NlriKind::Ipv4, add_path) {
            Ok(w) => self.withdrawn = w,
            Err(_) => return reset(v, Fault::InvalidNetworkField),
        }
        match decode_nlri(r.rest(), NlriKind::Ipv4, add_path) {
            Ok(n) => self.nlri = n,
            Err(_) => return reset(v, Fault::InvalidNetworkField),
        }
        let seen = self.decode_attributes(attrs, ctx, v);
        if v.reset.is_some() {
            return;
        }
        self.check_mandatory(&seen, v);
        self.check_next_hop(v);
        self.check_as4(ctx, v);
    }

    /// Parses the path attribute section; returns which type codes appeared.
    fn decode_attributes(&mut self, section: &[u8], ctx: &Codec, v: &mut Verdict) -> [bool; 256] {
        let mut seen = [false; 256];
        let mut r = Reader::new(section);
        while !r.is_empty() {
            let before = r.rest();
            let (Some(flags), Some(code)) = (r.u8(), r.u8()) else {
                // RFC 7606 §4: too few octets for an attribute header.
                v.note(
                    0,
                    Fault::AttributeUnderrun(before.len()),
                    Action::TreatAsWithdraw,
                    &[],
                );
                break;
            };
            // The low four flag bits are unused: ignored on receipt (RFC 4271 §4.3).
            let flags = AttrFlags(flags & 0xf0);
            let len = if flags.extended_length() {
                r.u16().map(usize::from)
            } else {
                r.u8().map(usize::from)
            };
            let Some(len) = len else {
                v.note(
                    0,
                    Fault::AttributeUnderrun(before.len()),
                    Action::TreatAsWithdraw,
                    &[],
                );
                break;
            };
            let Some(value) = r.take(len) else {
                // RFC 7606 §4: treat-as-withdraw, the NLRI located through
                // the Total Path Attribute Length; an MP attribute that
                // cannot be parsed is a session reset (§7.11, §7.12).
                let action =
                    if matches!(code, attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI) {
                        Action::SessionReset
                    } else {
                        Action::TreatAsWithdraw
                    };
                v.note(code, Fault::AttributeOverrun, action, &[]);
                break;
            };
            let raw = before.get(..before.len() - r.remaining()).unwrap_or(before);
            let idx = usize::from(code);
            if seen.get(idx).copied().unwrap_or(false) {
                v.note(
                    code,
                    Fault::Duplicate,
                    action_for(code, &Fault::Duplicate),
                    raw,
                );
                if v.reset.is_some() {
                    break;
                }
                continue;
            }
            if let Some(s) = seen.get_mut(idx) {
                *s = true;
            }
            match Attribute::decode(flags, code, value, ctx) {
                Ok(value) => self.attributes.push(PathAttribute { flags, value }),
                Err(fault) => {
                    let action = action_for(code, &fault);
                    v.note(code, fault, action, raw);
                    if v.reset.is_some() {
                        break;
                    }
                }
            }
        }
        seen
    }

    /// RFC 7606 §3 (d): a missing well-known mandatory attribute is
    /// treat-as-withdraw. They are mandatory only when routes are announced;
    /// NEXT_HOP only for routes in the NLRI field (RFC 4760 §3).
    fn check_mandatory(&self, seen: &[bool; 256], v: &mut Verdict) {
        let has_nlri = !self.nlri.is_empty();
        let has_mp_reach = seen[usize::from(attr_type::MP_REACH_NLRI)];
        if !has_nlri && !has_mp_reach {
            return;
        }
        let mut required = vec![attr_type::ORIGIN, attr_type::AS_PATH];
        if has_nlri {
            required.push(attr_type::NEXT_HOP);
        }
        for code in required {
            if !seen[usize::from(code)] {
                v.note(code, Fault::Missing, Action::TreatAsWithdraw, &[]);
            }
        }
    }

    /// A NEXT_HOP that cannot be one is treat-as-withdraw (RFC 7606 §7.3),
    /// when the NLRI field uses it.
    fn check_next_hop(&self, v: &mut Verdict) {
        if self.nlri.is_empty() {
            return;
        }
        let bad = self.attributes.iter().find_map(|a| match a.value {
            Attribute::NextHop(nh) if is_martian_next_hop(nh) => Some(nh),
            _ => None,
        });
        if let Some(nh) = bad {
            v.note(
                attr_type::NEXT_HOP,
                Fault::InvalidNextHop(nh),
                Action::TreatAsWithdraw,
                &[],
            );
        }
    }

    /// RFC 6793 §6: AS4_PATH / AS4_AGGREGATOR from a 4-octet speaker are
    /// discarded; confederation segments in AS4_PATH are removed.
    fn check_as4(&mut self, ctx: &Codec, v: &mut Verdict) {
        let mut issues = Vec::new();
        self.attributes.retain_mut(|a| match &mut a.value {
            Attribute::As4Path(_) | Attribute::As4Aggregator(_) if ctx.four_octet_as => {
                issues.push((a.type_code(), Fault::As4FromNewSpeaker));
                false
            }
            Attribute::As4Path(path) => {
                let before = path.segments.len();
                path.segments.retain(|s| {
                    !matches!(
                        s.kind,
                        AsSegmentType::ConfedSequence | AsSegmentType::ConfedSet
                    )
                });
                if path.segments.len() != before {
                    issues.push((attr_type::AS4_PATH, Fault::ConfedSegmentInAs4Path));
                }
                !path.segments.is_empty()
            }
            _ => true,
        });
        for (code, fault) in issues {
            v.note(code, fault, Action::AttributeDiscard, &[]);
        }
    }

    /// Appends the UPDATE body.
    pub(crate) fn encode(&self, ctx: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let v4 = AfiSafi::IPV4_UNICAST;
        let mut section = Vec::new();
        encode_nlri(&self.withdrawn, v4, ctx.sends_path_id(v4), &mut section)?;
        put_len16(&section, "withdrawn routes", out)?;
        out.extend_from_slice(&section);
        section.clear();
        for a in &self.attributes {
            a.encode(ctx, &mut section)?;
        }
        put_len16(&section, "path attributes", out)?;
        out.extend_from_slice(&section);
        encode_nlri(&self.nlri, v4, ctx.sends_path_id(v4), out)
    }
}

fn put_len16(section: &[u8], field: &'static str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = u16::try_from(section.len()).map_err(|_| EncodeError::TooLong {
        field,
        length: section.len(),
        max: usize::from(u16::MAX),
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}
