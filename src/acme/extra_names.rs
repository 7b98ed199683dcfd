//! Names that join the certificate while moat runs (AUTO_PROXY_CERTS):
//! the ones Docker discovery publishes and the configured names do not
//! cover. Orders for them are batched and spaced (CAs limit orders per
//! domain and week), and a name the CA refused is left out afterwards, so
//! one bad label never stops the lineage from renewing.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a change waits for more (`docker compose up` starts many).
pub const SETTLE: Duration = Duration::from_secs(2);

/// The wanted extra names and the pacing of orders made for them.
pub struct ExtraNames {
    state: std::sync::Mutex<State>,
    changed: Notify,
    interval: Duration,
}

#[derive(Default)]
struct State {
    wanted: Vec<String>,
    refused: BTreeSet<String>,
    last_order: Option<Instant>,
}

impl ExtraNames {
    /// No names yet; orders for new names at least `interval` apart.
    pub fn new(interval: Duration) -> Self {
        ExtraNames {
            state: std::sync::Mutex::new(State::default()),
            changed: Notify::new(),
            interval,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The names now published; wakes the renewer when they differ.
    pub fn set(&self, names: impl IntoIterator<Item = String>) {
        let mut names: Vec<String> = names
            .into_iter()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        names.sort();
        names.dedup();
        let mut state = self.state();
        if state.wanted != names {
            state.wanted = names;
            drop(state);
            self.changed.notify_one();
        }
    }

    /// `base` and every wanted name it does not cover (a wildcard covers
    /// one label), leaving out names the CA refused.
    pub fn effective(&self, base: &[String]) -> Vec<String> {
        let state = self.state();
        let mut out = base.to_vec();
        for name in &state.wanted {
            if !covered(name, &out) && !state.refused.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// Leaves `names` out of later orders (an order with them failed).
    pub fn refuse(&self, names: &[String]) {
        self.state().refused.extend(names.iter().cloned());
    }

    /// Records that an order for new names starts now.
    pub fn ordered(&self) {
        self.state().last_order = Some(Instant::now());
    }

    /// Completes once the names changed and the next order may start:
    /// after [`SETTLE`], and no sooner than the interval after the last one.
    pub async fn next_change(&self) {
        self.changed.notified().await;
        let earliest = self
            .state()
            .last_order
            .map(|t| t + self.interval)
            .unwrap_or_else(Instant::now)
            .max(Instant::now() + SETTLE);
        tokio::time::sleep_until(earliest).await;
    }
}

/// `true` when one of `names` is `name` or a wildcard over it.
pub fn covered(name: &str, names: &[String]) -> bool {
    names.iter().any(|n| {
        n.eq_ignore_ascii_case(name)
            || n.strip_prefix("*.").is_some_and(|zone| {
                name.split_once('.')
                    .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(zone))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uncovered_and_unrefused_names_join() {
        let extra = ExtraNames::new(Duration::from_secs(60));
        let base = vec!["example.com".to_string(), "*.apps.example.com".to_string()];
        extra.set([
            "Films.example.com.".into(),
            "x.apps.example.com".into(),
            "example.com".into(),
        ]);
        assert_eq!(
            extra.effective(&base),
            ["example.com", "*.apps.example.com", "films.example.com"]
        );
        extra.refuse(&["films.example.com".into()]);
        assert_eq!(extra.effective(&base), base);
        assert!(!covered("a.b.apps.example.com", &base));
    }

    #[tokio::test(start_paused = true)]
    async fn orders_for_new_names_are_spaced_by_the_interval() {
        let extra = ExtraNames::new(Duration::from_secs(600));
        extra.set(["a.example.com".into()]);
        let start = Instant::now();
        extra.next_change().await;
        assert_eq!(start.elapsed(), SETTLE);
        extra.ordered();
        extra.set(["a.example.com".into(), "b.example.com".into()]);
        extra.next_change().await;
        assert_eq!(start.elapsed(), SETTLE + Duration::from_secs(600));
        // The same names again are no change.
        extra.set(["b.example.com".into(), "a.example.com".into()]);
        let woke = tokio::time::timeout(Duration::from_secs(3600), extra.next_change()).await;
        assert!(woke.is_err());
    }
}
