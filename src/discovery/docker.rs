//! The Docker Engine API as discovery uses it, read-only: the running
//! containers labelled `swag=enable`, moat's own networks, and the events
//! that change the first. Everything else of bollard stays behind this file.

use std::collections::HashMap;
use std::net::IpAddr;

use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use bollard::Docker;
use futures_core::Stream;

use super::error::DiscoveryError;
use super::labels::ContainerFacts;
use crate::settings::DockerHost;

/// Seconds a request (not the events stream) may take.
const REQUEST_TIMEOUT_S: u64 = 30;

/// Container and network events after which the published set may
/// differ (a container moved onto moat's network, or moat onto its).
const EVENTS: &[&str] = &[
    "start",
    "die",
    "stop",
    "destroy",
    "rename",
    "pause",
    "unpause",
    "connect",
    "disconnect",
];

/// A connection to one Docker daemon.
pub struct DockerApi {
    docker: Docker,
    host: String,
}

impl DockerApi {
    /// A client for `host` (nothing is sent yet).
    pub fn connect(host: &DockerHost) -> Result<DockerApi, DiscoveryError> {
        let name = host.to_string();
        let docker = match host {
            DockerHost::Unix(path) => Docker::connect_with_unix(
                &path.to_string_lossy(),
                REQUEST_TIMEOUT_S,
                bollard::API_DEFAULT_VERSION,
            ),
            DockerHost::Tcp(addr) => {
                Docker::connect_with_http(addr, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
            }
            DockerHost::Auto | DockerHost::Off => unreachable!("resolved before connecting"),
        }
        .map_err(|source| DiscoveryError::Docker {
            host: name.clone(),
            source,
        })?;
        Ok(DockerApi { docker, host: name })
    }

    /// DOCKER_HOST as understood, for logs.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn fail(&self, source: bollard::errors::Error) -> DiscoveryError {
        DiscoveryError::Docker {
            host: self.host.clone(),
            source,
        }
    }

    /// The daemon's version, to check it answers at all.
    pub async fn version(&self) -> Result<String, DiscoveryError> {
        let v = self.docker.version().await.map_err(|e| self.fail(e))?;
        Ok(v.version.unwrap_or_default())
    }

    /// Every running container with the label `swag=enable`.
    pub async fn labelled(&self) -> Result<Vec<ContainerFacts>, DiscoveryError> {
        let filters = HashMap::from([("label", vec!["swag=enable"])]);
        let options = ListContainersOptionsBuilder::new()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.fail(e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let name = c.names?.into_iter().next()?;
                let mut exposed_ports: Vec<u16> = c
                    .ports
                    .unwrap_or_default()
                    .iter()
                    .filter(|p| {
                        p.typ
                            .as_ref()
                            .is_none_or(|t| *t == bollard::models::PortSummaryTypeEnum::TCP)
                    })
                    .map(|p| p.private_port)
                    .collect();
                exposed_ports.sort_unstable();
                exposed_ports.dedup();
                let networks = c
                    .network_settings
                    .and_then(|n| n.networks)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(net, ep)| {
                        let ip = ep.ip_address.and_then(|ip| ip.parse::<IpAddr>().ok());
                        (net, ip)
                    })
                    .collect();
                Some(ContainerFacts {
                    name: name.trim_start_matches('/').to_owned(),
                    labels: c.labels.unwrap_or_default().into_iter().collect(),
                    exposed_ports,
                    networks,
                })
            })
            .collect())
    }

    /// The networks of the container moat runs in (found by its hostname,
    /// which Docker sets to the container's short id); `None` outside one.
    /// Read from the listing rather than an inspect: the listing's model is
    /// the one `labelled` already decodes, and the inspect model alone
    /// would add a fifth of a megabyte to the binary.
    pub async fn own_networks(&self) -> Option<Vec<String>> {
        let hostname = std::fs::read_to_string("/etc/hostname").ok()?;
        let hostname = hostname.trim();
        if hostname.len() < 12 || !hostname.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let filters = HashMap::from([("id", vec![hostname])]);
        let options = ListContainersOptionsBuilder::new()
            .filters(&filters)
            .build();
        let list = self.docker.list_containers(Some(options)).await.ok()?;
        let me = list
            .into_iter()
            .find(|c| c.id.as_deref().is_some_and(|id| id.starts_with(hostname)))?;
        let mut nets: Vec<String> = me.network_settings?.networks?.into_keys().collect();
        nets.sort();
        Some(nets)
    }

    /// Container and network events that may change what is published,
    /// from `since` (Unix seconds) on, so a change between a listing and
    /// this call is still seen. Not filtered by label: a network event's
    /// labels are the network's, and Docker ANDs filters.
    pub fn events(&self, since: i64) -> impl Stream<Item = Result<(), DiscoveryError>> + '_ {
        let filters = HashMap::from([
            ("type", vec!["container", "network"]),
            ("event", EVENTS.to_vec()),
        ]);
        let options = EventsOptionsBuilder::new()
            .since(&since.to_string())
            .filters(&filters)
            .build();
        let stream = self.docker.events(Some(options));
        StreamMap {
            inner: Box::pin(stream),
            api: self,
        }
    }
}

/// The events stream with bollard's items reduced to "something changed".
struct StreamMap<'a, S> {
    inner: std::pin::Pin<Box<S>>,
    api: &'a DockerApi,
}

impl<S> Stream for StreamMap<'_, S>
where
    S: Stream<Item = Result<bollard::models::EventMessage, bollard::errors::Error>>,
{
    type Item = Result<(), DiscoveryError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let api = self.api;
        self.inner
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(|_| ()).map_err(|e| api.fail(e))))
    }
}
