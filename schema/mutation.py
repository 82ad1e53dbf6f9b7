"""Root mutations, assembled from the domains' mixins: each mutation is one transaction
and returns what it changed. The mixins' order is the order of the printed schema."""

from __future__ import annotations

import strawberry

from schema.account_mutations import AccountMutations
from schema.agent_mutations import AgentMutations
from schema.component_mutations import ComponentMutations
from schema.context_window import MemoryMutations
from schema.conversation_mutations import ConversationMutations
from schema.ingest import IngestMutations
from schema.lifecycle import LifecycleMutations
from schema.message_mutations import MessageMutations
from schema.plan_mutations import PlanMutations
from schema.pricing import PricingMutations
from schema.score_mutations import ScoreMutations
from schema.trace_mutations import TraceMutations


@strawberry.type
class Mutation(
    ScoreMutations,
    MemoryMutations,
    LifecycleMutations,
    IngestMutations,
    ConversationMutations,
    MessageMutations,
    PlanMutations,
    TraceMutations,
    ComponentMutations,
    AccountMutations,
    AgentMutations,
    PricingMutations,
):
    pass
