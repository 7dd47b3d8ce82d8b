//! Tier 1 on a Redis Cluster: three primaries started by the test (see
//! `server.rs`), two coordinators connected with `connect_cluster`, and
//! breakers whose hash tags land on different nodes.

use std::collections::BTreeSet;
use std::time::Duration;

use seawall::{BreakerConfig, RateLimitConfig, State};

use super::params;
use super::server::{wait_for, RedisCluster, RedisServer};
use crate::keys::{slot, Keys};
use crate::store::redis::{RedisStore, Timeouts};
use crate::store::{parse_published, FleetKind, Store};
use crate::{
    Coordinator, CoordinatorConfig, DistributedBreaker, FleetConfig, FleetLimitConfig,
    FleetRateLimiter,
};

const NS: &str = "cl";

fn coordinator(seeds: &[&str]) -> Coordinator {
    Coordinator::connect_cluster(
        seeds,
        CoordinatorConfig {
            namespace: NS.into(),
            sync_interval: Duration::from_millis(20),
            poll_interval: Duration::from_millis(200),
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Breaker names whose slots fall in each third of the slot range (where
/// `redis-cli --cluster create` puts three primaries' slots).
fn names_in_each_third() -> Vec<String> {
    let mut names = vec![String::new(); 3];
    for i in 0.. {
        let name = format!("dep{i}");
        let third = usize::from(slot(&Keys::new(NS, &name).unwrap().state)) * 3 / 16384;
        if names[third].is_empty() {
            names[third] = name;
        }
        if names.iter().all(|n| !n.is_empty()) {
            return names;
        }
    }
    unreachable!()
}

/// The node holding a breaker's state, asked of the nodes themselves: the
/// one with keys in the slot `keys::slot` computes.
fn owner(cluster: &RedisCluster, name: &str) -> usize {
    let k = Keys::new(NS, name).unwrap();
    let s = slot(&k.state).to_string();
    let holding: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| cluster.nodes[i].cmd::<i64>(&["CLUSTER", "COUNTKEYSINSLOT", &s]) > 0)
        .collect();
    assert_eq!(holding.len(), 1, "{name}: slot {s} held by {holding:?}");
    assert_eq!(
        cluster.nodes[holding[0]].cmd::<String>(&["CLUSTER", "KEYSLOT", &k.state]),
        s,
        "keys::slot agrees with the server"
    );
    holding[0]
}

fn subscribers(node: &RedisServer) -> i64 {
    let (_, n): (String, i64) = node.cmd(&["PUBSUB", "NUMSUB", &crate::keys::channel(NS)]);
    n
}

#[test]
fn a_fleet_on_a_cluster_trips_commands_and_leases_across_nodes() {
    let cluster = RedisCluster::start(3);
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    // The second instance logs in as the least-privilege user, which needs
    // `cluster|slots` on a Cluster.
    for node in &cluster.nodes {
        node.add_fleet_user(NS, &["+cluster|slots"]);
    }
    let user_urls: Vec<String> = cluster
        .nodes
        .iter()
        .rev()
        .map(|n| format!("redis://fleet:secret@127.0.0.1:{}/", n.port))
        .collect();
    let reversed: Vec<&str> = user_urls.iter().map(String::as_str).collect();
    // Each coordinator's subscriber starts on its first seed: node 0 and
    // node 2.
    let c1 = coordinator(&seeds);
    let c2 = coordinator(&reversed);
    let local = BreakerConfig {
        failure_threshold: 1000,
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let fleet = FleetConfig {
        minimum_calls: 4,
        min_failing_instances: Some(1),
        ..Default::default()
    };
    let names = names_in_each_third();
    let pair = |name: &str| {
        (
            DistributedBreaker::new(name, local.clone(), fleet.clone(), &c1).unwrap(),
            DistributedBreaker::new(name, local.clone(), fleet.clone(), &c2).unwrap(),
        )
    };
    let breakers: Vec<_> = names.iter().map(|n| pair(n)).collect();
    wait_for("both connected and seen live by every breaker", || {
        !c1.is_degraded()
            && !c2.is_degraded()
            && breakers
                .iter()
                .all(|(a, b)| a.fleet().live_instances == 2 && b.fleet().live_instances == 2)
    });
    let owner_of: Vec<usize> = names.iter().map(|n| owner(&cluster, n)).collect();
    let owners: BTreeSet<usize> = owner_of.iter().copied().collect();
    assert!(owners.len() >= 2, "the breakers' slots use {owners:?}");

    // A trip on one instance reaches the other, on every node.
    for (a, b) in &breakers {
        for _ in 0..4 {
            a.try_acquire().unwrap().failure();
        }
        wait_for("the other instance rejects with the fleet OPEN", || {
            b.try_acquire().is_err_and(|r| r.state == State::Open)
        });
    }

    // A PUBLISH reaches subscribers on every node, not only the slot's.
    let mut listeners: Vec<_> = cluster
        .nodes
        .iter()
        .map(|node| {
            let con = node.client().get_connection().unwrap();
            con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            con
        })
        .collect();
    let mut subs: Vec<_> = listeners.iter_mut().map(|c| c.as_pubsub()).collect();
    for sub in &mut subs {
        sub.subscribe(crate::keys::channel(NS)).unwrap();
    }
    // Operator commands pass both ways.
    breakers[0].0.force_closed();
    breakers[2].1.force_closed();
    wait_for("the commands reach the other instances", || {
        breakers[0].1.state() == State::ForcedClosed && breakers[2].0.state() == State::ForcedClosed
    });
    for sub in &mut subs {
        let heard = (0..10).any(|_| {
            let payload: String = sub.get_message().unwrap().get_payload().unwrap();
            let (name, view) = parse_published(&payload).unwrap();
            name == names[0] && view.kind == FleetKind::ForcedClosed
        });
        assert!(heard, "every node hears the command on {}", names[0]);
    }
    drop(subs);
    drop(listeners);

    // The fleet rate limiter leases from the cluster on both instances.
    let limit = RateLimitConfig {
        rate: 1000,
        period: Duration::from_secs(1),
        burst: 100,
        ..Default::default()
    };
    let l1 = FleetRateLimiter::new("api", limit, FleetLimitConfig::default(), &c1).unwrap();
    let l2 = FleetRateLimiter::new("api", limit, FleetLimitConfig::default(), &c2).unwrap();
    wait_for("both lease tokens", || {
        l1.status().granted > 0 && l2.status().granted > 0
    });
    assert!(!c1.is_degraded() && !c2.is_degraded());

    // A hung node (SIGSTOP) costs the coordinators op_timeout, not more:
    // they degrade, callers keep deciding locally, and they recover.
    let hung = owner_of[1];
    let healthy = if owner_of[0] != hung { 0 } else { 2 };
    assert_ne!(owner_of[healthy], hung);
    cluster.nodes[hung].signal("STOP");
    wait_for("both degraded", || c1.is_degraded() && c2.is_degraded());
    for (a, b) in &breakers {
        let _ = (a.try_acquire(), b.try_acquire());
    }
    // A coordinator connecting meanwhile gives up on the hung node after
    // connect_timeout and serves a breaker on a live node.
    let c3 = coordinator(&seeds);
    let b3 = DistributedBreaker::new(&names[healthy], local.clone(), fleet.clone(), &c3).unwrap();
    wait_for("a new coordinator connects around the hung node", || {
        !c3.is_degraded() && b3.fleet().state != State::Closed
    });
    cluster.nodes[hung].signal("CONT");
    wait_for("both recovered", || !c1.is_degraded() && !c2.is_degraded());
    drop((b3, c3));

    // The node c2's subscriber listens on dies: it resubscribes on the next.
    wait_for("c2's subscriber on node 2", || {
        subscribers(&cluster.nodes[2]) == 1
    });
    cluster.nodes[2].signal("KILL");
    wait_for("c2's subscriber moves to node 1", || {
        subscribers(&cluster.nodes[1]) == 1
    });
}

#[test]
fn a_moved_slot_is_followed_to_its_new_node() {
    let cluster = RedisCluster::start(3);
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut s = RedisStore::cluster(
        &seeds,
        Timeouts {
            connect: Duration::from_secs(1),
            op: Duration::from_secs(1),
            resubscribe_max: Duration::from_millis(200),
        },
    )
    .unwrap();
    // The store reads the slot map when it connects.
    s.reconnect().unwrap();
    let k = Keys::new("mv", "dep").unwrap();
    let p = params(&k, |p| p.min_failing = 1);
    let sl = slot(&k.state);
    let from = usize::from(sl) * 3 / 16384;
    let to = (from + 1) % 3;
    let id = |i: usize| cluster.nodes[i].cmd::<String>(&["CLUSTER", "MYID"]);
    let (from_id, to_id) = (id(from), id(to));
    // Moves the (empty) slot the documented way: importing, migrating,
    // then the new owner everywhere.
    let sl = sl.to_string();
    let setslot = |i: usize, args: &[&str]| {
        let mut all = vec!["CLUSTER", "SETSLOT", sl.as_str()];
        all.extend(args);
        cluster.nodes[i].cmd::<()>(&all);
    };
    setslot(to, &["IMPORTING", &from_id]);
    setslot(from, &["MIGRATING", &to_id]);
    for i in [to, from, 3 - to - from] {
        setslot(i, &["NODE", &to_id]);
    }
    // The old owner answers MOVED; the store follows it.
    let (v, stats) = s.flush(&k, &p, "a", 0, 10, 0).unwrap();
    assert_eq!((v.kind, stats.failures), (FleetKind::Open, 10));
    let held = |i: usize| cluster.nodes[i].cmd::<i64>(&["CLUSTER", "COUNTKEYSINSLOT", &sl]);
    assert!(held(to) > 0 && held(from) == 0);
}

#[test]
fn one_shared_coordinator_per_cluster_and_namespace() {
    let config = |ns: &str| CoordinatorConfig {
        namespace: ns.into(),
        ..Default::default()
    };
    // Nothing listens there: the coordinators start degraded.
    let nodes = ["redis://127.0.0.1:1/", "redis://127.0.0.1:2/"];
    let a = Coordinator::shared_cluster(&nodes, config("s1")).unwrap();
    let b = Coordinator::shared_cluster(&nodes, config("s1")).unwrap();
    let c = Coordinator::shared_cluster(&nodes, config("s2")).unwrap();
    let d = Coordinator::shared_cluster(&nodes[..1], config("s1")).unwrap();
    let e = Coordinator::shared(nodes[0], config("s1")).unwrap();
    assert_eq!(a.instance_id(), b.instance_id());
    for other in [&c, &d, &e] {
        assert_ne!(a.instance_id(), other.instance_id());
    }
}

#[test]
fn connect_cluster_rejects_an_empty_list_and_invalid_urls() {
    let config = CoordinatorConfig::default;
    let empty = Coordinator::connect_cluster(&[], config()).unwrap_err();
    assert!(
        empty.to_string().contains("at least one node URL"),
        "{empty}"
    );
    let invalid = Coordinator::connect_cluster(&["redis://127.0.0.1:1/", "http://nope"], config())
        .unwrap_err();
    assert!(
        invalid
            .to_string()
            .contains("invalid cluster URL \"http://nope\""),
        "{invalid}"
    );
}
