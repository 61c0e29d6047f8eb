//! The SRv6 L3VPN configuration of one node and the SIDs it holds.
//!
//! - locators (`segment-routing` / `srv6` / `locators` / `locator NAME`);
//! - the locator BGP takes its SIDs from (`router bgp ASN` /
//!   `segment-routing srv6` / `locator NAME`, as in FRR);
//! - VRFs: a name and a routing table id. This kernel has no VRF devices,
//!   so a VRF is a table id plus Tern's maps; FRR reads the table from the
//!   VRF device and has no word for it, so Tern adds one: `vrf NAME` /
//!   ` table N` / `exit-vrf`;
//! - each VRF's BGP instance (`router bgp ASN vrf NAME`): per address
//!   family the SID request, RD, RTs, `import vpn`, `export vpn`, `network`
//!   and `redistribute` lines; and the per-VRF SID request.
//!
//! [`Srv6Config::sync_sids`] keeps the SID table in step with the config:
//! every change goes through [`Srv6Config::change`], which refuses a change
//! whose SIDs cannot be allocated and leaves everything as it was.
use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::Srv6Error;
use crate::locator::Locator;
use crate::rd::{RouteDistinguisher, RouteTarget};
use crate::sid::{LocalSid, SidOwner, SidRequest, SidScope, SidTable};

/// Table ids a VRF may not take: unspecified, and the kernel's default,
/// main and local tables.
pub const RESERVED_TABLES: [u32; 4] = [0, 253, 254, 255];

/// A VRF: its name and routing table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vrf {
    pub name: String,
    /// None while the block has no `table` line: the VRF then programs nothing.
    pub table: Option<u32>,
}

/// Checks a table id.
pub fn check_table(table: u32) -> Result<(), Srv6Error> {
    if RESERVED_TABLES.contains(&table) {
        return Err(Srv6Error::BadTable {
            table,
            reason: "0, 253 (default), 254 (main) and 255 (local) are not VRF tables",
        });
    }
    Ok(())
}

/// What the VRF redistributes into its BGP instance (and so exports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Redistribute {
    Connected,
    Static,
    Kernel,
}

impl Redistribute {
    pub fn word(self) -> &'static str {
        match self {
            Redistribute::Connected => "connected",
            Redistribute::Static => "static",
            Redistribute::Kernel => "kernel",
        }
    }
}

/// One address family (`ipv4 unicast`, `ipv6 unicast`) of a VRF's BGP
/// instance: its VPN policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnAf {
    /// `network PREFIX`, in the order given.
    pub networks: Vec<IpNet>,
    /// `redistribute connected|static|kernel`, sorted.
    pub redistribute: Vec<Redistribute>,
    /// `sid vpn export auto|N`.
    pub sid: Option<SidRequest>,
    /// `rd vpn export RD`.
    pub rd: Option<RouteDistinguisher>,
    /// `rt vpn import RT...` (or `both`), sorted by octets, no duplicates.
    pub rt_import: Vec<RouteTarget>,
    /// `rt vpn export RT...` (or `both`), sorted by octets, no duplicates.
    pub rt_export: Vec<RouteTarget>,
    /// `import vpn`.
    pub import_vpn: bool,
    /// `export vpn`.
    pub export_vpn: bool,
}

impl VpnAf {
    /// Whether nothing is configured (FRR then prints no block).
    pub fn is_empty(&self) -> bool {
        self == &VpnAf::default()
    }
}

/// The BGP instance of a VRF (`router bgp ASN vrf NAME`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpVrf {
    pub asn: u32,
    pub vrf: String,
    /// `sid vpn per-vrf export auto|N`: one End.DT46 SID for both families.
    pub sid_per_vrf: Option<SidRequest>,
    pub ipv4: VpnAf,
    pub ipv6: VpnAf,
}

impl BgpVrf {
    pub fn new(asn: u32, vrf: &str) -> BgpVrf {
        BgpVrf {
            asn,
            vrf: vrf.to_owned(),
            sid_per_vrf: None,
            ipv4: VpnAf::default(),
            ipv6: VpnAf::default(),
        }
    }

    pub fn af(&self, ipv4: bool) -> &VpnAf {
        if ipv4 { &self.ipv4 } else { &self.ipv6 }
    }

    pub fn af_mut(&mut self, ipv4: bool) -> &mut VpnAf {
        if ipv4 { &mut self.ipv4 } else { &mut self.ipv6 }
    }

    /// The SID requests of this instance, by owner.
    pub fn sid_requests(&self) -> Vec<(SidOwner, SidRequest)> {
        let mut v = Vec::new();
        if let Some(r) = self.sid_per_vrf {
            v.push((SidOwner::new(&self.vrf, SidScope::PerVrf), r));
        }
        if let Some(r) = self.ipv4.sid {
            v.push((SidOwner::new(&self.vrf, SidScope::Ipv4), r));
        }
        if let Some(r) = self.ipv6.sid {
            v.push((SidOwner::new(&self.vrf, SidScope::Ipv6), r));
        }
        v
    }
}

/// The SRv6 L3VPN configuration of a node, with the SIDs allocated for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Srv6Config {
    /// Locators by name.
    pub locators: BTreeMap<String, Locator>,
    /// The AS number of the default BGP instance (`router bgp ASN`), when
    /// its lines were read here.
    pub bgp_asn: Option<u32>,
    /// The locator of the default BGP instance's `segment-routing srv6`.
    pub bgp_locator: Option<String>,
    /// VRFs by name.
    pub vrfs: BTreeMap<String, Vrf>,
    /// The VRFs' BGP instances by VRF name.
    pub bgp_vrfs: BTreeMap<String, BgpVrf>,
    /// The SIDs held; None while BGP has no locator that exists.
    sids: Option<SidTable>,
    /// While set, [`Srv6Config::change`] leaves the SIDs alone (a whole
    /// text being read allocates them once at its end).
    #[serde(skip)]
    defer_sids: bool,
}

impl Srv6Config {
    pub fn new() -> Srv6Config {
        Srv6Config::default()
    }

    /// The SID table, when BGP's locator exists.
    pub fn sids(&self) -> Option<&SidTable> {
        self.sids.as_ref()
    }

    /// The SID `owner` holds.
    pub fn sid(&self, owner: &SidOwner) -> Option<LocalSid> {
        self.sids.as_ref()?.get(owner)
    }

    /// The locator SIDs come from, when configured and existing.
    pub fn active_locator(&self) -> Option<&Locator> {
        self.locators.get(self.bgp_locator.as_deref()?)
    }

    /// Every SID request of the config. A VRF needs its `vrf` block with a
    /// table for its SIDs to be allocated: a SID that would lead nowhere is
    /// not handed out.
    pub fn sid_requests(&self) -> BTreeMap<SidOwner, SidRequest> {
        self.bgp_vrfs
            .values()
            .filter(|b| self.vrfs.get(&b.vrf).is_some_and(|v| v.table.is_some()))
            .flat_map(|b| b.sid_requests())
            .collect()
    }

    /// Brings the SID table in step with the config: a new locator starts a
    /// new table (every SID allocated again from it), none drops the table.
    pub fn sync_sids(&mut self) -> Result<(), Srv6Error> {
        let Some(locator) = self.active_locator().cloned() else {
            self.sids = None;
            return Ok(());
        };
        let mut table = match self.sids.take() {
            Some(t) if t.locator() == &locator => t,
            _ => SidTable::new(locator),
        };
        let wanted = self.sid_requests();
        let result = table.sync(&wanted);
        self.sids = Some(table);
        result
    }

    /// Allocates this config's SIDs starting from the table of `previous`
    /// (the config running before a reload): an owner that keeps its
    /// request keeps its SID, as with lines applied one by one. On `Err`
    /// (an explicit function `previous` gives to another owner) `self` is
    /// unchanged.
    pub fn keep_sids_of(&mut self, previous: &Srv6Config) -> Result<(), Srv6Error> {
        let mut next = self.clone();
        next.sids = previous.sids.clone();
        next.sync_sids()?;
        *self = next;
        Ok(())
    }

    /// Stops (`true`) or resumes allocating SIDs at each change; resuming
    /// does not allocate: call [`Srv6Config::sync_sids`].
    pub(crate) fn defer_sids(&mut self, defer: bool) {
        self.defer_sids = defer;
    }

    /// Checks rules that span items: table ids unique across VRFs.
    pub fn validate(&self) -> Result<(), Srv6Error> {
        let mut tables: BTreeMap<u32, &str> = BTreeMap::new();
        for v in self.vrfs.values() {
            if let Some(t) = v.table {
                check_table(t)?;
                if let Some(other) = tables.insert(t, &v.name) {
                    return Err(Srv6Error::TableInUse {
                        table: t,
                        other: other.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Applies `edit` to a copy, validates it and allocates its SIDs; keeps
    /// the copy on success, and on `Err` leaves `self` unchanged.
    pub fn change<T>(
        &mut self,
        edit: impl FnOnce(&mut Srv6Config) -> Result<T, Srv6Error>,
    ) -> Result<T, Srv6Error> {
        let mut next = self.clone();
        let out = edit(&mut next)?;
        next.validate()?;
        if !next.defer_sids {
            next.sync_sids()?;
        }
        *self = next;
        Ok(out)
    }
}
