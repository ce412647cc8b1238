"""The subject agents: one Faust agent and state table per subject kind.

- shipments (key transport_doc_no): MANIFEST_MISMATCH, EXIT_WITHOUT_CLEARANCE, SEAL_BROKEN
- containers (key container_no): resolve container-only gate events to their shipment
- importers (key importer_id): SPLIT_SHIPMENT
- declarants (key declarant_id): AMENDMENT_CHURN, DECLARANT_SURGE
- hscodes (key: 6-digit HS code): UNDERVALUATION
- scoring (key: the declarant or importer a finding concerns): scores every finding and sends the alert
- offices (key office_code): the selectivity lane of every LODGED declaration the risk model scored
"""

from __future__ import annotations

from typing import Any

import faust

from agents.subjects import container, declarant, hs_code, importer, office, scoring, shipment
from agents.subjects.routes import CONTAINERS, DECLARANTS, HS_CODES, IMPORTERS, OFFICES, SCORING, SHIPMENTS
from streams.runtime.agents.subject_agent import Segmented, SubjectAgent, SubjectKind, stored_whole
from streams.runtime.context import Runtime

KINDS: tuple[SubjectKind[Any], ...] = (
    SubjectKind(SHIPMENTS, stored_whole(shipment.ShipmentState.from_doc), shipment.process, shipment.is_empty),
    SubjectKind(CONTAINERS, stored_whole(container.ContainerState.from_doc), container.process, container.is_empty),
    SubjectKind(IMPORTERS, stored_whole(importer.ImporterState.from_doc), importer.process, importer.is_empty),
    SubjectKind(DECLARANTS, declarant.load, declarant.process, declarant.is_empty,
                segmented=Segmented(declarant.head, declarant.take_dirty_segments)),
    SubjectKind(HS_CODES, stored_whole(hs_code.HsCodeState.from_doc), hs_code.process, hs_code.is_empty),
    SubjectKind(SCORING, stored_whole(scoring.ScoringState.from_doc), scoring.process, scoring.is_empty, final=True),
    SubjectKind(OFFICES, office.load, office.process, office.is_empty,
                segmented=Segmented(office.head, office.take_dirty_segments)),
)


def register(app: faust.App, runtime: Runtime) -> dict[str, SubjectAgent[Any]]:
    """Add the subject agents and their tables to ``app``; return them by subject kind.

    Offices only with a risk model file configured: without one no lane is
    decided, and an agent with two tables would only lengthen every
    rebalance and recovery.
    """
    active = runtime.active_kinds
    return {kind.name: SubjectAgent(app, runtime, kind) for kind in KINDS if kind.name in active}
