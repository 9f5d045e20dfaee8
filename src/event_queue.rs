//! The bounded event queue read with `poll_event`, with its DROPPED marker.

use std::collections::VecDeque;

use crate::events::{Event, EventKind};
use crate::sync::{AtomicU64, Mutex, Ordering};

/// The next event sequence number of a store (from 1).
pub(crate) fn next_sequence(sequence: &AtomicU64) -> u64 {
    sequence.fetch_add(1, Ordering::Relaxed) + 1
}

/// Numbers `events` as they are queued, under the queue's lock, so that
/// with any number of producers the queue holds them in sequence order and
/// a gap in it means only a loss (a lost event took its number; the
/// DROPPED marker takes one too). Explored under shuttle with several
/// producers and a poller (tests/schedules.rs).
pub(crate) fn queue_numbered(
    queue: &Mutex<EventQueue>,
    sequence: &AtomicU64,
    events: impl IntoIterator<Item = Event>,
) {
    let mut q = queue.lock();
    for mut e in events {
        e.sequence = next_sequence(sequence);
        q.push(e, || Event {
            kind: EventKind::Dropped,
            sequence: next_sequence(sequence),
            previous_level: e.level,
            count: 0,
            bytes: 0,
            ..e
        });
    }
}

/// Holds at most `capacity` events plus one DROPPED marker. A full queue
/// drops the incoming event and adds it to the marker, which sums the losses
/// until it is polled; events that arrive after a poll made room queue up
/// behind the marker.
///
/// Queuing never fails: events are delivered after the call that made them
/// committed. While there is no marker the queue keeps room for one
/// (`events.len() < events.capacity()`), and an event it cannot get room
/// for (a failed allocation) is lost like one that finds the queue full.
#[derive(Debug)]
pub(crate) struct EventQueue {
    capacity: usize,
    events: VecDeque<Event>,
    /// Absolute position of the marker (positions count every event ever
    /// queued), when one is queued.
    marker_at: Option<u64>,
    /// Absolute position of `events[0]`.
    head_at: u64,
}

impl EventQueue {
    pub fn new(capacity: usize) -> Self {
        EventQueue {
            capacity,
            // The marker's room.
            events: VecDeque::with_capacity(1),
            marker_at: None,
            head_at: 0,
        }
    }

    fn regular_len(&self) -> usize {
        self.events.len() - usize::from(self.marker_at.is_some())
    }

    /// Queues `event`, or counts it as lost. `marker` builds a fresh DROPPED
    /// event (it takes a sequence number) when there is no marker yet.
    pub fn push(&mut self, event: Event, marker: impl FnOnce() -> Event) {
        // Room for the event and, after it, for a marker.
        if self.regular_len() < self.capacity && self.events.try_reserve(2).is_ok() {
            self.events.push_back(event);
            return;
        }
        match self.marker_at {
            Some(at) => {
                let index = (at - self.head_at) as usize;
                let m = &mut self.events[index];
                m.count += 1;
                m.usage_bytes = event.usage_bytes;
                m.level = event.level;
                m.previous_level = event.level;
            }
            None => {
                let mut m = marker();
                debug_assert_eq!(m.kind, EventKind::Dropped);
                m.count = 1;
                self.marker_at = Some(self.head_at + self.events.len() as u64);
                debug_assert!(self.events.len() < self.events.capacity());
                self.events.push_back(m);
            }
        }
    }

    pub fn pop(&mut self) -> Option<Event> {
        let e = self.events.pop_front()?;
        if self.marker_at == Some(self.head_at) {
            self.marker_at = None;
        }
        self.head_at += 1;
        Some(e)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EvictionReason, MemoryPressureLevel};

    fn ev(sequence: u64) -> Event {
        Event {
            kind: EventKind::Eviction,
            sequence,
            level: MemoryPressureLevel::None,
            previous_level: MemoryPressureLevel::None,
            reason: EvictionReason::Capacity,
            count: 1,
            bytes: 1,
            usage_bytes: 0,
            timestamp_ns: 0,
        }
    }

    fn marker(sequence: u64) -> Event {
        Event {
            kind: EventKind::Dropped,
            count: 0,
            ..ev(sequence)
        }
    }

    #[test]
    fn full_queue_sums_losses_in_one_marker_until_polled() {
        let mut q = EventQueue::new(2);
        q.push(ev(1), || marker(99));
        q.push(ev(2), || marker(99));
        q.push(ev(3), || marker(3));
        q.push(ev(4), || panic!("the marker exists already"));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().unwrap().sequence, 1);
        // Room again: the next event queues behind the marker.
        q.push(ev(5), || panic!("room"));
        // Full again (2 regular + marker): the loss joins the marker.
        q.push(ev(6), || panic!("the marker exists already"));
        assert_eq!(q.pop().unwrap().sequence, 2);
        let m = q.pop().unwrap();
        assert_eq!((m.kind, m.sequence, m.count), (EventKind::Dropped, 3, 3));
        assert_eq!(q.pop().unwrap().sequence, 5);
        assert!(q.pop().is_none());
        // After the marker was polled, a new loss makes a new marker.
        q.push(ev(7), || panic!("room"));
        q.push(ev(8), || panic!("room"));
        q.push(ev(9), || marker(9));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().unwrap().sequence, 7);
        assert_eq!(q.pop().unwrap().sequence, 8);
        assert_eq!(q.pop().unwrap().count, 1);
    }
}
