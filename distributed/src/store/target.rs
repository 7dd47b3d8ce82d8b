//! Where the Redis store connects: one server, or a Redis Cluster. Both give
//! the store a `ConnectionLike` connection bounded by the same timeouts, so
//! the store's scripts, parsing and subscriber are the same code for both.
//!
//! In a Cluster every script call is an EVALSHA routed by its first key:
//! all of a breaker's (or limiter's) keys share one hash tag, so each call
//! touches one slot on one node. The client follows no redirection and
//! retries nothing by itself (`retries(0)`): a timed-out read is never
//! followed by another command on the same connection, and a hung node
//! costs at most `op_timeout`. A `MOVED` answer (resharding, failover) makes
//! the store reconnect, which fetches the new slot map, and run the script
//! once more.

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Client, Connection, ConnectionLike, RedisError};

use super::StoreError;

/// Timeouts of the Redis store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub op: Duration,
    /// How long the subscriber waits between reconnection attempts, at most.
    pub resubscribe_max: Duration,
}

pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The server or Cluster the store talks to.
pub(crate) enum Target {
    Node(Client),
    Cluster {
        client: ClusterClient,
        /// The seed nodes, each as a single-server client: the subscriber
        /// listens on any one of them.
        seeds: Vec<Client>,
    },
}

/// An open connection to the target.
pub(crate) enum Con {
    Node(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Con {
    pub(crate) fn like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Con::Node(c) => c,
            Con::Cluster(c) => &mut **c,
        }
    }
}

impl Target {
    /// One server at `url`; nothing is connected yet.
    pub(crate) fn node(url: &str) -> Result<Self, StoreError> {
        let client =
            Client::open(url).map_err(|e| StoreError(format!("invalid redis_url: {e}")))?;
        Ok(Target::Node(client))
    }

    /// A Cluster reached through any of the `seeds` (`redis://host:port`
    /// each; one is enough, more let the client and the subscriber start
    /// from another node when one is down). Nothing is connected yet.
    pub(crate) fn cluster(seeds: &[&str], t: Timeouts) -> Result<Self, StoreError> {
        if seeds.is_empty() {
            return Err(StoreError(
                "a Redis Cluster needs at least one node URL".into(),
            ));
        }
        let invalid =
            |url: &str, e: RedisError| StoreError(format!("invalid cluster URL {url:?}: {e}"));
        let seeds_clients = seeds
            .iter()
            .map(|url| Client::open(*url).map_err(|e| invalid(url, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let client = ClusterClient::builder(seeds.iter().copied())
            .connection_timeout(t.connect)
            .response_timeout(t.op)
            .retries(0)
            .build()
            .map_err(|e| StoreError(format!("invalid cluster URLs: {e}")))?;
        Ok(Target::Cluster {
            client,
            seeds: seeds_clients,
        })
    }

    /// Opens a connection whose every read and write is bounded by `t.op`.
    pub(crate) fn connect(&self, t: Timeouts) -> Result<Con, StoreError> {
        match self {
            Target::Node(client) => {
                let mut con = client.get_connection_with_timeout(t.connect).map_err(err)?;
                con.set_read_timeout(Some(t.op)).map_err(err)?;
                con.set_write_timeout(Some(t.op)).map_err(err)?;
                redis::cmd("PING").query::<()>(&mut con).map_err(err)?;
                Ok(Con::Node(con))
            }
            Target::Cluster { client, .. } => {
                // Connects to a seed (PING), reads the slot map, and
                // connects to every primary in it (PING each).
                let con = client.get_connection().map_err(err)?;
                con.set_read_timeout(Some(t.op)).map_err(err)?;
                con.set_write_timeout(Some(t.op)).map_err(err)?;
                Ok(Con::Cluster(Box::new(con)))
            }
        }
    }

    /// The servers the subscriber may listen on, tried in turn: the server,
    /// or any seed node of the Cluster (a classic PUBLISH reaches every
    /// node of a Cluster).
    pub(crate) fn subscribable(&self) -> Vec<Client> {
        match self {
            Target::Node(client) => vec![client.clone()],
            Target::Cluster { seeds, .. } => seeds.clone(),
        }
    }

    /// Whether the error says the slot map is stale (the key's slot moved).
    pub(crate) fn moved(&self, e: &RedisError) -> bool {
        matches!(self, Target::Cluster { .. })
            && matches!(
                e.kind(),
                redis::ErrorKind::Server(redis::ServerErrorKind::Moved)
            )
    }
}
