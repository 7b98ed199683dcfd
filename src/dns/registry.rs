//! `DNSPLUGIN` name → provider. Adding a provider is one line here (and its
//! name in [`super::PROVIDER_NAMES`]).

use std::path::Path;

use super::ini::{self, IniFile};
use super::{
    acmedns, aliyun, azure, cloudflare, desec, digitalocean, dnsimple, duckdns, exec, gandi,
    godaddy, google, hetzner, hetzner_cloud, inwx, ionos, linode, namecheap, netcup, ovh, porkbun,
    rfc2136, route53, transip, vultr, DnsError, DnsProvider,
};

type Constructor = fn(&IniFile) -> Result<Box<dyn DnsProvider>, DnsError>;

/// Every provider and how it is built from its ini file.
const PROVIDERS: &[(&str, Constructor)] = &[
    ("aliyun", aliyun::AliyunProvider::from_ini),
    ("cloudflare", cloudflare::CloudflareProvider::from_ini),
    ("rfc2136", rfc2136::Rfc2136Provider::from_ini),
    ("duckdns", duckdns::DuckDnsProvider::from_ini),
    ("digitalocean", digitalocean::DigitalOceanProvider::from_ini),
    // certbot-dns-do: SWAG's other DigitalOcean plugin, same API.
    ("do", digitalocean::DigitalOceanProvider::from_ini),
    ("hetzner", hetzner::HetznerProvider::from_ini),
    ("porkbun", porkbun::PorkbunProvider::from_ini),
    ("linode", linode::LinodeProvider::from_ini),
    ("route53", route53::Route53Provider::from_ini),
    ("gandi", gandi::GandiProvider::from_ini),
    ("desec", desec::DesecProvider::from_ini),
    ("vultr", vultr::VultrProvider::from_ini),
    ("acmedns", acmedns::AcmeDnsProvider::from_ini),
    ("exec", exec::ExecProvider::from_ini),
    ("ovh", ovh::OvhProvider::from_ini),
    ("godaddy", godaddy::GodaddyProvider::from_ini),
    ("dnsimple", dnsimple::DnsimpleProvider::from_ini),
    ("ionos", ionos::IonosProvider::from_ini),
    (
        "hetzner-cloud",
        hetzner_cloud::HetznerCloudProvider::from_ini,
    ),
    ("netcup", netcup::NetcupProvider::from_ini),
    ("google", google::GoogleProvider::from_ini),
    ("transip", transip::TransipProvider::from_ini),
    ("azure", azure::AzureProvider::from_ini),
    ("namecheap", namecheap::NamecheapProvider::from_ini),
    ("inwx", inwx::InwxProvider::from_ini),
];

/// The provider `plugin` names, with credentials read from
/// `<config_dir>/dns-conf/<plugin>.ini`. Reads the file each time, so a
/// restart (or the next order) uses an edited file.
pub fn provider_for(plugin: &str, config_dir: &Path) -> Result<Box<dyn DnsProvider>, DnsError> {
    let (name, build) = PROVIDERS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(plugin))
        .ok_or_else(|| DnsError::UnknownProvider {
            name: plugin.to_owned(),
        })?;
    let ini = ini::load(name, config_dir)?;
    build(&ini)
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_and_provider_names_agree() {
        let names: Vec<&str> = super::PROVIDERS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, super::super::PROVIDER_NAMES);
    }
}
