//! The conversation lifecycle of PRODUCT.md as one explicit state machine:
//! `step(conversation, event, now)` gives the next stored state (if any) and the effects to
//! carry out once that state is durable. Deadlines are absolute times inside the record, so
//! `next_deadline` re-arms a timer after a restart from data alone.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::config::{Config, Style};
use crate::ids::ExpertId;
use crate::protocol::{ErrorCode, Refusal, SettableStatus};
use crate::store::model::{Conversation, Offer, Owner, Status};

/// The windows the lifecycle keeps, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    pub accept_window: Duration,
    pub returning_close_after: Duration,
    pub messaging_close_after: Duration,
}

impl Policy {
    pub fn from_config(c: &Config) -> Policy {
        Policy {
            accept_window: c.routing.accept_window,
            returning_close_after: c.conversation.returning_close_after,
            messaging_close_after: c.conversation.messaging_close_after,
        }
    }

    fn close_delay(&self, style: Style) -> Duration {
        match style {
            Style::LiveChat => Duration::ZERO,
            Style::Returning => self.returning_close_after,
            Style::Messaging => self.messaging_close_after,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The router proposes this expert.
    Offer {
        expert: ExpertId,
    },
    Accept {
        expert: ExpertId,
        name: String,
    },
    Decline {
        expert: ExpertId,
    },
    /// The expert became unavailable while the offer stood; not held against them.
    WithdrawOffer {
        expert: ExpertId,
    },
    CustomerMessage,
    ExpertMessage {
        expert: ExpertId,
    },
    /// An internal note: experts only, not a reply to the customer.
    Note {
        expert: ExpertId,
    },
    SetStatus {
        expert: ExpertId,
        status: SettableStatus,
    },
    End {
        expert: ExpertId,
    },
    Leave {
        expert: ExpertId,
    },
    /// Time passed: whatever deadline is due fires.
    Tick,
}

/// What the world must learn once the new state is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Customer and owner are told of a new status.
    Status {
        status: Status,
        reason: Option<&'static str>,
    },
    /// The customer learns who is helping them.
    Assigned,
    OfferMade {
        expert: ExpertId,
        expires_at: Timestamp,
    },
    OfferWithdrawn {
        expert: ExpertId,
        reason: &'static str,
    },
    /// The router counts this toward `missed_offers_before_away`.
    OfferLapsed { expert: ExpertId },
}

#[derive(Debug, Default)]
pub struct Transition {
    /// The new record to store, or `None` when the event changed nothing stored.
    pub next: Option<Conversation>,
    pub effects: Vec<Effect>,
}

impl Transition {
    fn unchanged() -> Transition {
        Transition::default()
    }

    fn to(next: Conversation, effects: Vec<Effect>) -> Transition {
        Transition {
            next: Some(next),
            effects,
        }
    }
}

fn refuse(code: ErrorCode, message: &str) -> Result<Transition, Refusal> {
    Err(Refusal::new(code, message))
}

/// The earliest stored deadline, if any.
pub fn next_deadline(c: &Conversation) -> Option<Timestamp> {
    let offer = c
        .offer
        .filter(|_| c.status == Status::Offered)
        .map(|o| o.expires_at);
    let close = c.close_at.filter(|_| c.status == Status::Solved);
    offer.into_iter().chain(close).min()
}

pub fn step(
    c: &Conversation,
    event: &Event,
    now: Timestamp,
    p: &Policy,
) -> Result<Transition, Refusal> {
    use Status::*;
    match *event {
        Event::Offer { expert } => {
            if c.status != Queued {
                return refuse(ErrorCode::Conflict, "the conversation is not waiting");
            }
            let expires_at = now.plus(p.accept_window);
            let mut n = c.clone();
            n.status = Offered;
            n.offer = Some(Offer { expert, expires_at });
            Ok(Transition::to(
                n,
                vec![Effect::OfferMade { expert, expires_at }],
            ))
        }
        Event::Accept { expert, ref name } => {
            match c.offer {
                Some(o) if c.status == Offered && o.expert == expert && now < o.expires_at => {}
                _ => return refuse(ErrorCode::Conflict, "the offer is no longer open"),
            }
            let mut n = c.clone();
            n.status = Open;
            n.offer = None;
            n.declined.clear();
            n.owner = Some(Owner {
                id: expert,
                name: name.clone(),
            });
            if !n.past_owners.contains(&expert) {
                n.past_owners.push(expert);
            }
            n.accepted_at.get_or_insert(now);
            Ok(Transition::to(
                n,
                vec![
                    Effect::Assigned,
                    Effect::Status {
                        status: Open,
                        reason: None,
                    },
                ],
            ))
        }
        Event::Decline { expert } => match c.offer {
            Some(o) if c.status == Offered && o.expert == expert => {
                Ok(withdraw(c, expert, "declined", true))
            }
            _ => refuse(ErrorCode::Conflict, "the offer is no longer open"),
        },
        Event::WithdrawOffer { expert } => match c.offer {
            Some(o) if c.status == Offered && o.expert == expert => {
                Ok(withdraw(c, expert, "unavailable", false))
            }
            _ => Ok(Transition::unchanged()),
        },
        Event::CustomerMessage => match c.status {
            Queued | Offered | Open => Ok(Transition::unchanged()),
            Pending | OnHold => {
                let mut n = c.clone();
                n.status = Open;
                Ok(Transition::to(
                    n,
                    vec![Effect::Status {
                        status: Open,
                        reason: Some("reopened"),
                    }],
                ))
            }
            Solved => {
                let mut n = c.clone();
                n.status = Open;
                n.solved_at = None;
                n.close_at = None;
                n.left = false;
                Ok(Transition::to(
                    n,
                    vec![Effect::Status {
                        status: Open,
                        reason: Some("reopened"),
                    }],
                ))
            }
            Closed | Abandoned => refuse(ErrorCode::Closed, "this conversation has ended"),
        },
        Event::ExpertMessage { expert } => {
            owner_only(c, expert)?;
            match c.status {
                Open | Pending | OnHold if c.first_response_at.is_none() => {
                    let mut n = c.clone();
                    n.first_response_at = Some(now);
                    Ok(Transition::to(n, vec![]))
                }
                Open | Pending | OnHold => Ok(Transition::unchanged()),
                _ => refuse(ErrorCode::Closed, "this conversation has ended"),
            }
        }
        Event::Note { expert } => {
            owner_only(c, expert)?;
            if c.status.is_terminal() {
                return refuse(ErrorCode::Closed, "this conversation has ended");
            }
            Ok(Transition::unchanged())
        }
        Event::SetStatus { expert, status } => {
            owner_only(c, expert)?;
            let status = match status {
                SettableStatus::Open => Open,
                SettableStatus::Pending => Pending,
                SettableStatus::OnHold => OnHold,
            };
            match c.status {
                s if s == status => Ok(Transition::unchanged()),
                Open | Pending | OnHold => {
                    let mut n = c.clone();
                    n.status = status;
                    Ok(Transition::to(
                        n,
                        vec![Effect::Status {
                            status,
                            reason: None,
                        }],
                    ))
                }
                _ => refuse(
                    ErrorCode::NotAllowed,
                    "only an active conversation changes status",
                ),
            }
        }
        Event::End { expert } => {
            owner_only(c, expert)?;
            if !matches!(c.status, Open | Pending | OnHold) {
                return refuse(ErrorCode::NotAllowed, "this conversation is not active");
            }
            let mut n = c.clone();
            n.status = Solved;
            n.solved_at = Some(now);
            n.close_at = Some(now.plus(p.close_delay(c.style)));
            let mut effects = vec![Effect::Status {
                status: Solved,
                reason: Some("expert_ended"),
            }];
            if c.style == Style::LiveChat {
                close(&mut n, now, &mut effects);
            }
            Ok(Transition::to(n, effects))
        }
        Event::Leave { expert } => {
            owner_only(c, expert)?;
            match c.status {
                Solved | Closed if c.left => Ok(Transition::unchanged()),
                Solved | Closed => {
                    let mut n = c.clone();
                    n.left = true;
                    Ok(Transition::to(n, vec![]))
                }
                _ => refuse(
                    ErrorCode::NotAllowed,
                    "end the conversation before leaving it",
                ),
            }
        }
        Event::Tick => Ok(tick(c, now)),
    }
}

fn owner_only(c: &Conversation, expert: ExpertId) -> Result<(), Refusal> {
    if c.owned_by(expert) {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::Forbidden,
            "you do not own this conversation",
        ))
    }
}

fn withdraw(
    c: &Conversation,
    expert: ExpertId,
    reason: &'static str,
    held_against: bool,
) -> Transition {
    let mut n = c.clone();
    n.status = Status::Queued;
    n.offer = None;
    if held_against && !n.declined.contains(&expert) {
        n.declined.push(expert);
    }
    Transition::to(n, vec![Effect::OfferWithdrawn { expert, reason }])
}

fn close(n: &mut Conversation, now: Timestamp, effects: &mut Vec<Effect>) {
    n.status = Status::Closed;
    n.closed_at = Some(now);
    n.close_at = None;
    effects.push(Effect::Status {
        status: Status::Closed,
        reason: Some("closed_after_solved"),
    });
}

fn tick(c: &Conversation, now: Timestamp) -> Transition {
    match (c.status, c.offer, c.close_at) {
        (Status::Offered, Some(o), _) if o.expires_at <= now => {
            let mut t = withdraw(c, o.expert, "expired", true);
            t.effects.push(Effect::OfferLapsed { expert: o.expert });
            t
        }
        (Status::Solved, _, Some(at)) if at <= now => {
            let mut n = c.clone();
            let mut effects = Vec::new();
            close(&mut n, now, &mut effects);
            Transition::to(n, effects)
        }
        _ => Transition::unchanged(),
    }
}

#[cfg(test)]
mod tests;
