//! Data rights in the store: erasing a conversation or a customer, and what the reports keep
//! of them. Each erasure writes the reports' anonymous copy first and removes the record
//! that makes the rest reachable last, so a crash part way leaves a record to erase again,
//! never figures that lost a conversation nor data nobody can find to erase.

use std::collections::BTreeMap;

use super::model::{Callback, Conversation, Customer, WebhookEntry};
use super::{decode, id, text, Store, StoreError, Ticket, Tree};
use crate::ids::{CustomerId, ExpertId};

impl Store {
    /// Marks `customer` erased, before anything of theirs goes: their visitor token is
    /// answered as an unknown one from now on, and the company user id that named them
    /// (`external_id`) names a new customer next time, so nothing new is written as theirs.
    pub fn revoke_customer(
        &self,
        customer: CustomerId,
        external_id: Option<&str>,
    ) -> Result<Ticket, StoreError> {
        self.mark(Tree::ErasedCustomers, &[id(customer.0)])?;
        if let Some(external) = external_id {
            self.engine.remove(Tree::ExternalUsers, &[text(external)])?;
        }
        Ok(self.ticket())
    }

    /// Every erased customer, in id order: what an export carries so that their visitor
    /// tokens stay dead in the store it is imported into.
    pub fn erased_customers(&self) -> Result<Vec<CustomerId>, StoreError> {
        Ok(self.engine.scan(Tree::ErasedCustomers, &[])?.iter().map(|(k, _)| CustomerId(k[0].id())).collect())
    }

    /// The reports' anonymized copies of erased conversations, in id order.
    pub fn erased_conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        self.all(Tree::ErasedConversations)
    }

    /// Stores the reports' copy of an erased conversation, as an import restores it; `c` must
    /// be anonymized already.
    pub fn put_erased_conversation(&self, c: &Conversation) -> Result<Ticket, StoreError> {
        self.put(Tree::ErasedConversations, &[id(c.id.0)], c)
    }

    /// Whether `customer` was erased (their visitor token no longer works).
    pub fn customer_erased(&self, customer: CustomerId) -> Result<bool, StoreError> {
        Ok(self.engine.get(Tree::ErasedCustomers, &[id(customer.0)])?.is_some())
    }

    /// Erases a conversation that is over and has no actor writing it: its transcript, files
    /// (bytes too), indexes and record; the reports keep its anonymized copy.
    pub fn erase_conversation(&self, c: &Conversation) -> Result<Ticket, StoreError> {
        let key = [id(c.id.0)];
        self.put(Tree::ErasedConversations, &key, &c.anonymized())?;
        for a in self.listed(Tree::ConversationAttachments, c.id.0)? {
            self.engine.remove(Tree::AttachmentBytes, &[id(a)])?;
            self.engine.remove(Tree::Attachments, &[id(a)])?;
            self.engine.remove(Tree::ConversationAttachments, &[id(c.id.0), id(a)])?;
        }
        self.engine.erase_log(c.id.0)?;
        for (k, v) in self.engine.scan(Tree::Starts, &[id(c.customer.0)])? {
            if super::u64_from(&v) == c.id.0 {
                self.engine.remove(Tree::Starts, &k)?;
            }
        }
        let experts = c.owner.iter().map(|o| o.id).chain(c.past_owners.iter().copied());
        for expert in experts.collect::<std::collections::BTreeSet<ExpertId>>() {
            self.engine.remove(Tree::ExpertConversations, &[id(expert.0), id(c.id.0)])?;
        }
        self.engine.remove(Tree::Live, &key)?;
        self.engine.remove(Tree::Abandoned, &key)?;
        self.engine.remove(Tree::CustomerConversations, &[id(c.customer.0), id(c.id.0)])?;
        self.engine.remove(Tree::Conversations, &key)?;
        Ok(self.ticket())
    }

    /// Removes a customer's own records once their conversations are erased: the customer,
    /// their callbacks and any `start` left (see `revoke_customer` for their user id).
    pub fn erase_customer_records(&self, customer: &Customer) -> Result<Ticket, StoreError> {
        for callback in self.callbacks_of(customer.id)? {
            self.engine.remove(Tree::Callbacks, &[id(callback.id.0)])?;
        }
        for (k, _) in self.engine.scan(Tree::Starts, &[id(customer.id.0)])? {
            self.engine.remove(Tree::Starts, &k)?;
        }
        self.engine.remove(Tree::Customers, &[id(customer.id.0)])?;
        Ok(self.ticket())
    }

    /// The callbacks a customer asked for (a scan: callbacks are few and have no index).
    pub fn callbacks_of(&self, customer: CustomerId) -> Result<Vec<Callback>, StoreError> {
        Ok(self.callbacks()?.into_iter().filter(|c| c.customer == customer).collect())
    }

    /// Every webhook delivery still owed.
    pub fn webhooks(&self) -> Result<Vec<WebhookEntry>, StoreError> {
        self.all(Tree::WebhookOutbox)
    }

    /// What the reports count: every conversation record, and the anonymized copy of each
    /// erased one (a record still there, from an erasure a crash interrupted, counts once).
    pub fn reported_conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        let mut all: BTreeMap<u64, Conversation> = BTreeMap::new();
        for (_, v) in self.engine.scan(Tree::ErasedConversations, &[])? {
            let c: Conversation = decode(&v)?;
            all.insert(c.id.0, c);
        }
        for c in self.conversations()? {
            all.insert(c.id.0, c);
        }
        Ok(all.into_values().collect())
    }
}
