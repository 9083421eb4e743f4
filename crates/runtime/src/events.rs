//! Kubernetes Event recording with the binary's reporter name and pod identity.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Publishes Events (events.k8s.io/v1) about objects as one reporting controller.
/// Failures to publish are logged, never returned: Events are best-effort.
#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
    reporter: Reporter,
}

impl std::fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecorder")
            .field("reporter", &self.reporter)
            .finish()
    }
}

/// The reporter identity: `controller` (binary name) and `instance` (pod name).
pub fn reporter(controller: &str, instance: &str) -> Reporter {
    Reporter {
        controller: controller.to_string(),
        instance: Some(instance.to_string()),
    }
}

impl EventRecorder {
    /// A recorder reporting as `controller` from `instance`.
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        let reporter = reporter(controller, instance);
        Self {
            recorder: Recorder::new(client, reporter.clone()),
            reporter,
        }
    }

    /// Publishes a `Normal` event about `obj`.
    pub async fn normal<K>(&self, obj: &K, reason: &str, action: &str, note: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.publish(obj, EventType::Normal, reason, action, note.into())
            .await;
    }

    /// Publishes a `Warning` event about `obj`.
    pub async fn warning<K>(&self, obj: &K, reason: &str, action: &str, note: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.publish(obj, EventType::Warning, reason, action, note.into())
            .await;
    }

    async fn publish<K>(&self, obj: &K, type_: EventType, reason: &str, action: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let reference: ObjectReference = obj.object_ref(&());
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(truncate(note, 1024)),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, reason, name = ?reference.name, "publishing event failed");
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary (the API limit for notes is 1 kB).
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_on_char_boundaries() {
        assert_eq!(truncate("abc".into(), 10), "abc");
        let long = "é".repeat(600); // 1200 bytes
        let t = truncate(long, 1024);
        assert!(t.len() <= 1024);
        assert_eq!(t.chars().count(), 512);
        let r = reporter("training-operator", "pod-1");
        assert_eq!(r.instance.as_deref(), Some("pod-1"));
    }
}
