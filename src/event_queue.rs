//! The bounded event queue read with `poll_event`, with its DROPPED marker.

use std::collections::VecDeque;

use crate::MemoryPressureLevel;
use crate::events::{Event, EventKind, EventMask};
use crate::sync::{AtomicU64, Mutex, Ordering};

/// The next event sequence number of a store (from 1).
pub(crate) fn next_sequence(sequence: &AtomicU64) -> u64 {
    sequence.fetch_add(1, Ordering::Relaxed) + 1
}

/// Hands a call's `events` on, under the queue's lock: follows the store's
/// level through them ([`EventQueue::follow_level`]: a PRESSURE_CHANGED
/// that an earlier delivery overtook is left out, the others chained), leaves
/// out the kinds `mask` leaves out, and numbers the rest. With `to_queue` they
/// are queued (numbered as they are queued, so that with any number of
/// producers the queue holds them in sequence order and a gap in it means
/// only a loss: a lost event took its number, and the DROPPED marker
/// carries the number of the latest loss it counts) and `events` ends
/// empty; otherwise they stay in `events`, numbered, for the event
/// callback. Explored under shuttle with several producers
/// and a poller (tests/schedules.rs).
pub(crate) fn hand_on(
    queue: &Mutex<EventQueue>,
    sequence: &AtomicU64,
    mask: EventMask,
    events: &mut Vec<Event>,
    to_queue: bool,
) {
    let mut q = queue.lock();
    // Every change is followed, delivered or not, so that the chain goes
    // on from the store's level whatever the mask was.
    events.retain_mut(|e| q.follow_level(e) && mask.contains(e.kind));
    if !to_queue {
        for e in events.iter_mut() {
            e.sequence = next_sequence(sequence);
        }
        return;
    }
    for mut e in events.drain(..) {
        e.sequence = next_sequence(sequence);
        q.push(e, || Event {
            kind: EventKind::Dropped,
            previous_level: e.level,
            count: 0,
            bytes: 0,
            ..e
        });
    }
}

/// Holds at most `capacity` events plus one DROPPED marker. A full queue
/// drops the incoming event and adds it to the marker, which sums the losses
/// until it is polled and is always the latest loss's place, with its
/// number: events that arrive after a poll made room queue up behind the
/// marker, and a loss after them moves the marker behind them. So a
/// marker's number is the latest loss it counts, and the others are the
/// numbers missing since the marker before it (`count` is those gaps plus
/// one). The marker's level is the store's level as the events handed on
/// tell it, lost ones included.
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
    /// The store's level as the PRESSURE_CHANGED events handed on so far
    /// tell it: the number of the last change among them (0 before the
    /// first), and the level it led to.
    followed: (u64, MemoryPressureLevel),
}

impl EventQueue {
    /// A queue of `capacity` events, for a store that starts at `level`.
    pub fn new(capacity: usize, level: MemoryPressureLevel) -> Self {
        EventQueue {
            capacity,
            // The marker's room.
            events: VecDeque::with_capacity(1),
            marker_at: None,
            head_at: 0,
            followed: (0, level),
        }
    }

    /// Follows the store's level through `e`, a PRESSURE_CHANGED event
    /// that still carries its change's number (in `sequence`; other kinds
    /// pass through): whether to hand it on. Changes are numbered in the
    /// order they happen, under the lock that makes them, but a call hands
    /// its events on after it released that lock, so two calls on two
    /// threads can hand theirs on in the other order. A change older than
    /// the last one handed on is left out (the later one already told where
    /// the level went); any other gets the last level handed on as its
    /// `previous_level`, and is left out if that makes it no change. So the
    /// PRESSURE_CHANGED events a store hands on, in sequence order, form one
    /// chain, each `previous_level` the `level` of the one before, and the
    /// last one's `level` is the store's once the calls have returned.
    pub fn follow_level(&mut self, e: &mut Event) -> bool {
        if e.kind != EventKind::PressureChanged {
            return true;
        }
        let (last, level) = self.followed;
        if e.sequence <= last {
            return false;
        }
        self.followed = (e.sequence, e.level);
        e.previous_level = level;
        e.level != level
    }

    fn regular_len(&self) -> usize {
        self.events.len() - usize::from(self.marker_at.is_some())
    }

    /// Queues `event`, or counts it as lost. `marker` builds a DROPPED event
    /// from `event` (its number and level) when there is no marker at the
    /// queue's tail.
    pub fn push(&mut self, event: Event, marker: impl FnOnce() -> Event) {
        // Room for the event and, after it, for a marker.
        if self.regular_len() < self.capacity && self.events.try_reserve(2).is_ok() {
            self.events.push_back(event);
            return;
        }
        // The marker says where the store's level went, as the events
        // handed on tell it (`follow_level`), lost ones included.
        let level = self.followed.1;
        // (None for an empty queue: a failed allocation, not a full one.)
        let tail = (self.head_at + self.events.len() as u64).checked_sub(1);
        let m = match self.marker_at {
            Some(at) if Some(at) == tail => &mut self.events[(at - self.head_at) as usize],
            earlier => {
                // A marker behind events queued after a poll would put this
                // loss before them: it moves to the end with the losses it
                // counts (its old number, a loss's, is now a gap like the
                // others').
                let before = match earlier {
                    Some(at) => {
                        let old = self.events.remove((at - self.head_at) as usize);
                        old.map_or(0, |m| m.count)
                    }
                    None => 0,
                };
                let mut m = marker();
                debug_assert_eq!(m.kind, EventKind::Dropped);
                m.count = before;
                let index = self.events.len();
                self.marker_at = Some(self.head_at + index as u64);
                debug_assert!(index < self.events.capacity());
                self.events.push_back(m);
                &mut self.events[index]
            }
        };
        m.count += 1;
        // The latest loss's number: the marker is its place.
        m.sequence = event.sequence;
        m.usage_bytes = event.usage_bytes;
        m.level = level;
        m.previous_level = level;
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

    /// A PRESSURE_CHANGED event of change `number`, `from` -> `to`.
    fn change(number: u64, from: MemoryPressureLevel, to: MemoryPressureLevel) -> Event {
        Event {
            kind: EventKind::PressureChanged,
            previous_level: from,
            level: to,
            count: 0,
            bytes: 0,
            ..ev(number)
        }
    }

    #[test]
    fn level_changes_handed_on_late_keep_the_chain() {
        use MemoryPressureLevel::*;
        let mut q = EventQueue::new(8, Moderate);
        // Change 2 (Critical -> None) overtook change 1 (Moderate ->
        // Critical): it is chained from the level handed on last.
        let mut e2 = change(2, Critical, None);
        assert!(q.follow_level(&mut e2));
        assert_eq!((e2.previous_level, e2.level), (Moderate, None));
        // Change 1 comes late: the level already went past it.
        assert!(!q.follow_level(&mut change(1, Moderate, Critical)));
        // Other kinds pass untouched.
        let mut other = ev(0);
        assert!(q.follow_level(&mut other));
        assert_eq!(other, ev(0));
        // Change 4 overtook change 3 and leads back to the level handed on
        // last: no change to report, and change 3 is late.
        assert!(!q.follow_level(&mut change(4, Emergency, None)));
        assert!(!q.follow_level(&mut change(3, None, Emergency)));
        let mut e5 = change(5, None, Critical);
        assert!(q.follow_level(&mut e5));
        assert_eq!((e5.previous_level, e5.level), (None, Critical));
    }

    // Its mutex is shuttle's under `make schedules`, which runs only inside
    // an explored schedule (tests/schedules.rs explores `hand_on` there).
    #[cfg(not(nexus_shuttle))]
    #[test]
    fn hand_on_follows_the_level_before_the_mask_and_numbers_what_it_keeps() {
        use MemoryPressureLevel::*;
        let queue = Mutex::new(EventQueue::new(8, None));
        let sequence = AtomicU64::new(0);
        // Masked out, the change is still followed.
        let mut events = vec![change(1, None, Critical), ev(0)];
        hand_on(&queue, &sequence, EventMask::EVICTION, &mut events, false);
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].kind, events[0].sequence),
            (EventKind::Eviction, 1)
        );
        let mut events = vec![change(2, Critical, None)];
        hand_on(&queue, &sequence, EventMask::ALL, &mut events, true);
        assert!(events.is_empty(), "queued");
        let e = queue.lock().pop().unwrap();
        assert_eq!(
            (e.kind, e.sequence, e.previous_level, e.level),
            (EventKind::PressureChanged, 2, Critical, None)
        );
    }

    #[test]
    fn full_queue_sums_losses_in_one_marker_until_polled() {
        let mut q = EventQueue::new(2, MemoryPressureLevel::None);
        q.push(ev(1), || marker(99));
        q.push(ev(2), || marker(99));
        q.push(ev(3), || marker(3));
        q.push(ev(4), || panic!("the marker exists already"));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().unwrap().sequence, 1);
        // Room again: the next event queues behind the marker.
        q.push(ev(5), || panic!("room"));
        // Full again (2 regular + marker): the loss goes after event 5, so
        // the marker moves behind it, counting the losses so far (3, 4)
        // and the new one (6), whose number it takes. The queue still
        // holds 2 events and one marker.
        q.push(ev(6), || marker(6));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().unwrap().sequence, 2);
        assert_eq!(q.pop().unwrap().sequence, 5);
        let m = q.pop().unwrap();
        assert_eq!((m.kind, m.sequence, m.count), (EventKind::Dropped, 6, 3));
        assert!(q.pop().is_none());
        // After the marker was polled, a new loss makes a new marker.
        q.push(ev(7), || panic!("room"));
        q.push(ev(8), || panic!("room"));
        q.push(ev(9), || marker(9));
        q.push(ev(10), || panic!("the marker at the tail"));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().unwrap().sequence, 7);
        assert_eq!(q.pop().unwrap().sequence, 8);
        // The marker has the latest loss's number: the gap before it (9)
        // and itself are its count.
        let m = q.pop().unwrap();
        assert_eq!((m.sequence, m.count), (10, 2));
    }
}
