//! The service table ternd holds (every service by name, each frontend owned
//! by one service), and the plan of one node: for each frontend, the backends
//! new flows may pick there and whether the node announces the address.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::ServiceError;
use crate::model::{
    Announce, Backend, BackendState, Frontend, Service, ServiceKind, TrafficPolicy,
};

/// What an upsert or a delete did to one service.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    Added(String),
    Updated(String),
    Removed(String),
    /// Upserted as it already was.
    Unchanged(String),
}

impl Change {
    /// The service's name.
    pub fn name(&self) -> &str {
        match self {
            Change::Added(n) | Change::Updated(n) | Change::Removed(n) | Change::Unchanged(n) => n,
        }
    }
}

/// Every service of the node, by name, with the owner of every frontend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceTable {
    services: BTreeMap<String, Service>,
    /// Which service each frontend belongs to.
    owners: HashMap<Frontend, String>,
}

impl ServiceTable {
    pub fn new() -> ServiceTable {
        ServiceTable::default()
    }

    /// Adds or replaces `svc`. It must pass [`Service::validate`] and use no
    /// frontend another service has; the table is unchanged on error.
    pub fn upsert(&mut self, svc: Service) -> Result<Change, ServiceError> {
        svc.validate().map_err(|e| e.in_service(&svc.name))?;
        for f in &svc.frontends {
            if let Some(owner) = self.owners.get(f)
                && *owner != svc.name
            {
                return Err(in_use(f, owner, &svc.name));
            }
        }
        Ok(self.commit_upsert(svc))
    }

    /// Removes the service `name`, which must be there.
    pub fn delete(&mut self, name: &str) -> Result<Change, ServiceError> {
        if !self.services.contains_key(name) {
            return Err(ServiceError::UnknownService(name.to_owned()));
        }
        Ok(self.commit_delete(name))
    }

    /// Applies a set of changes all or nothing: `delete` removes services
    /// (each must be there), `upsert` adds or replaces services, and with
    /// `replace_all` every service not in `upsert` is removed too (the
    /// orchestrator's full resync). On any error nothing changes.
    ///
    /// Frontend ownership is checked against the table as it will be, so one
    /// call can move a frontend from a service to another. The changes come
    /// back removals first (in name order), then one per upserted service in
    /// the order given.
    pub fn apply(
        &mut self,
        upsert: Vec<Service>,
        delete: Vec<String>,
        replace_all: bool,
    ) -> Result<Vec<Change>, ServiceError> {
        // Check everything first.
        let mut upserted: HashSet<&str> = HashSet::with_capacity(upsert.len());
        for svc in &upsert {
            if !upserted.insert(&svc.name) {
                return Err(ServiceError::ServiceGivenTwice(svc.name.clone()));
            }
            svc.validate().map_err(|e| e.in_service(&svc.name))?;
        }
        let mut deleted: BTreeSet<&str> = BTreeSet::new();
        for name in &delete {
            if upserted.contains(name.as_str()) {
                return Err(ServiceError::UpsertAndDelete(name.clone()));
            }
            if !self.services.contains_key(name) {
                return Err(ServiceError::UnknownService(name.clone()));
            }
            if !deleted.insert(name) {
                return Err(ServiceError::ServiceGivenTwice(name.clone()));
            }
        }
        // A service stays as it is unless upserted, deleted or swept away.
        let stays =
            |name: &str| !replace_all && !upserted.contains(name) && !deleted.contains(name);
        let mut claimed: HashMap<&Frontend, &str> = HashMap::new();
        for svc in &upsert {
            for f in &svc.frontends {
                if let Some(other) = claimed.insert(f, &svc.name) {
                    return Err(in_use(f, other, &svc.name));
                }
                if let Some(owner) = self.owners.get(f)
                    && *owner != svc.name
                    && stays(owner)
                {
                    return Err(in_use(f, owner, &svc.name));
                }
            }
        }

        // Then change.
        let mut removed: BTreeSet<String> = deleted.iter().map(|&n| n.to_owned()).collect();
        if replace_all {
            removed.extend(
                self.services
                    .keys()
                    .filter(|n| !upserted.contains(n.as_str()))
                    .cloned(),
            );
        }
        let mut changes = Vec::with_capacity(removed.len() + upsert.len());
        for name in removed {
            changes.push(self.commit_delete(&name));
        }
        // Release every frontend the upserted services had before taking the
        // new ones, so that frontends can move between them.
        for svc in &upsert {
            if let Some(old) = self.services.get(&svc.name) {
                for f in &old.frontends {
                    release(&mut self.owners, f, &svc.name);
                }
            }
        }
        for svc in upsert {
            changes.push(self.commit_upsert(svc));
        }
        Ok(changes)
    }

    /// The service `name`.
    pub fn get(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }

    /// Every service, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The name of the service that has frontend `f`.
    pub fn frontend_owner(&self, f: &Frontend) -> Option<&str> {
        self.owners.get(f).map(String::as_str)
    }

    /// Stores a checked service.
    fn commit_upsert(&mut self, svc: Service) -> Change {
        let name = svc.name.clone();
        let change = match self.services.get(&name) {
            Some(old) if *old == svc => {
                // Its frontends may have been released by `apply`.
                for f in &svc.frontends {
                    self.owners.insert(*f, name.clone());
                }
                return Change::Unchanged(name);
            }
            Some(old) => {
                for f in &old.frontends {
                    release(&mut self.owners, f, &name);
                }
                Change::Updated(name.clone())
            }
            None => Change::Added(name.clone()),
        };
        for f in &svc.frontends {
            self.owners.insert(*f, name.clone());
        }
        self.services.insert(name, svc);
        change
    }

    /// Removes a service that is there.
    fn commit_delete(&mut self, name: &str) -> Change {
        if let Some(old) = self.services.remove(name) {
            for f in &old.frontends {
                release(&mut self.owners, f, name);
            }
        }
        Change::Removed(name.to_owned())
    }
}

/// Forgets that `name` owns `f`, if it does (another service may own it now).
fn release(owners: &mut HashMap<Frontend, String>, f: &Frontend, name: &str) {
    if owners.get(f).is_some_and(|o| o == name) {
        owners.remove(f);
    }
}

fn in_use(f: &Frontend, owner: &str, name: &str) -> ServiceError {
    ServiceError::FrontendInUse {
        frontend: *f,
        owner: owner.to_owned(),
    }
    .in_service(name)
}

/// What the plan needs to know of the node it is made for.
pub struct NodeView<'a> {
    /// Whether a backend address is a pod of this node.
    pub is_local: &'a dyn Fn(IpAddr) -> bool,
}

/// What one node programs for one frontend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendPlan {
    pub frontend: Frontend,
    /// The backends new flows may pick, in the service's order.
    pub backends: Vec<Backend>,
    /// Whether the node announces the frontend's address by BGP.
    pub announce: bool,
}

/// Whether backend `b` may take new flows for frontend `f` in `state` on
/// this node: same family, that state, and local under policy Local.
fn candidate(
    svc: &Service,
    node: &NodeView,
    f: &Frontend,
    b: &Backend,
    state: BackendState,
) -> bool {
    b.state == state
        && b.addr.is_ipv4() == f.addr.is_ipv4()
        && (svc.traffic_policy == TrafficPolicy::Cluster || (node.is_local)(b.addr))
}

/// Whether the node announces frontend `f` (see [`crate`] for the rules).
fn announces(svc: &Service, node: &NodeView, f: &Frontend) -> bool {
    match (svc.kind, svc.announce) {
        (ServiceKind::ClusterIp, _) => false,
        (ServiceKind::LoadBalancer, Announce::Always) => true,
        (ServiceKind::LoadBalancer, Announce::Auto) => svc
            .backends
            .iter()
            .any(|b| candidate(svc, node, f, b, BackendState::Active)),
    }
}

/// The plan of every frontend of `svc` on the node, in the service's order:
/// the active backends of the frontend's family (only the node's own under
/// policy Local), or if there are none the terminating ones under the same
/// rules; maintenance backends never. See [`crate`] for announcing.
pub fn plan(svc: &Service, node: &NodeView) -> Vec<FrontendPlan> {
    svc.frontends
        .iter()
        .map(|f| {
            let pick = |state| -> Vec<Backend> {
                svc.backends
                    .iter()
                    .filter(|b| candidate(svc, node, f, b, state))
                    .copied()
                    .collect()
            };
            let mut backends = pick(BackendState::Active);
            if backends.is_empty() {
                backends = pick(BackendState::Terminating);
            }
            FrontendPlan {
                frontend: *f,
                backends,
                announce: announces(svc, node, f),
            }
        })
        .collect()
}

/// The host prefixes (/32, /128) the node announces: one per address of an
/// announced frontend, however many ports and services share it.
pub fn announced_prefixes(table: &ServiceTable, node: &NodeView) -> BTreeSet<IpNet> {
    table
        .iter()
        .flat_map(|svc| {
            svc.frontends
                .iter()
                .filter(|f| announces(svc, node, f))
                .map(|f| IpNet::from(f.addr))
        })
        .collect()
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
