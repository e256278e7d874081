"""Removing memberships and assets, in an order no crash can turn into a deleted asset that a
search still returns.

A removal is first recorded as a pending job item (the durable intent: a delete job's items, a
sync's vanished files). A batch then

1. plans, in a read-only transaction, what goes: the memberships named, and every asset left
   without one or named whole (*doomed*), and the assets that keep another membership
   (*survivors*, whose datasets change);
2. deletes the doomed assets' points from both collections of every version in the store (by
   content hash, so caption points the catalog no longer knows go too) and writes the survivors'
   new image fields (a survivor also loses the captions and tags only a removed membership
   offered: their caption points go here, their rows in step 3);
3. in one transaction deletes the memberships and the doomed assets (their captions, embedded
   marks and memberships cascade; job items keep their history, with ``asset_id`` set null) and
   records the items' outcomes.

A crash before step 3 leaves the items pending and the catalog as it was: the retry plans and
deletes again (both idempotent). After step 2 the doomed assets have no points, so no search
can return them whatever happens to step 3.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modalign.catalog import repo
from modalign.catalog.models import Asset
from modalign.ingest.payloads import embedded_versions, image_payload, relabel
from modalign.ingest.spec import Removal
from modalign.search.filters import Filter, MatchAny
from modalign.search.naming import Kind, caption_point_id
from modalign.search.schema import ImagePayload
from modalign.search.store import VectorStore

HASHES_PER_FILTER = 64  # content hashes per delete request


@dataclass
class RemovalPlan:
    """What a batch of removal items takes away (see the module docstring)."""

    doomed: dict[int, str] = field(default_factory=dict)  # asset id -> content hash
    member_ids: set[int] = field(default_factory=set)
    survivors: dict[int, ImagePayload] = field(default_factory=dict)  # their payload after
    survivor_versions: dict[str, set[int]] = field(default_factory=dict)
    retract: dict[int, repo.Offer] = field(default_factory=dict)  # what survivors lose
    retracted_points: list[str] = field(default_factory=list)  # their caption points
    effective: set[int] = field(default_factory=set)  # items that remove something

    def __bool__(self) -> bool:
        return bool(self.doomed or self.member_ids)


def plan_removals(*, session: Session, items: Sequence[tuple[int, Removal]]) -> RemovalPlan:
    """Which memberships and assets the items remove, as the catalog stands now."""
    plan = RemovalPlan()
    members = repo.members_of_assets(session=session, asset_ids=[r.asset_id for _, r in items])
    known = set(session.scalars(select(Asset.id).where(Asset.id.in_(
        [r.asset_id for _, r in items]
    ))))
    for item_id, removal in items:
        if _plan_one(plan, removal, members.get(removal.asset_id, []), known):
            plan.effective.add(item_id)
    _plan_survivors(session, plan, members)
    return plan


def _plan_one(
    plan: RemovalPlan, removal: Removal, members: list[repo.MemberRow], known: set[int]
) -> bool:
    if removal.asset_id not in known:
        return False  # already gone (a batch delivered twice, an asset deleted meanwhile)
    if removal.member_id is None:
        plan.doomed[removal.asset_id] = removal.content_hash
        return True
    if removal.member_id not in {m.id for m in members}:
        return False
    plan.member_ids.add(removal.member_id)
    return True


def _plan_survivors(
    session: Session, plan: RemovalPlan, members: Mapping[int, list[repo.MemberRow]]
) -> None:
    touched = {m.asset_id for rows in members.values() for m in rows if m.id in plan.member_ids}
    left: dict[int, list[repo.MemberRow]] = {}
    for asset_id in touched - plan.doomed.keys():
        rows = [m for m in members[asset_id] if m.id not in plan.member_ids]
        if rows:
            left[asset_id] = rows
            plan.retract[asset_id] = _withdrawn(members[asset_id], plan.member_ids, rows)
    for asset_id in touched - plan.doomed.keys() - left.keys():
        plan.doomed[asset_id] = ""  # its last membership goes: the asset goes
    assets = session.scalars(select(Asset).where(Asset.id.in_([*left, *plan.doomed])))
    for asset in assets:
        if asset.id in left:
            plan.survivors[asset.id] = _survivor(asset, left[asset.id], plan)
        else:
            plan.doomed[asset.id] = asset.content_hash
    plan.survivor_versions = embedded_versions(session=session, asset_ids=plan.survivors)


def _withdrawn(
    members: list[repo.MemberRow], removed: set[int], remaining: list[repo.MemberRow]
) -> repo.Offer:
    offer = repo.Offer()
    for member in members:
        if member.id in removed:
            offer = offer | repo.Offer.of(member.captions, member.tags)
    return repo.retractable(offer, remaining)


def _survivor(asset: Asset, remaining: list[repo.MemberRow], plan: RemovalPlan) -> ImagePayload:
    """The survivor's payload once its removed memberships and what only they offered go."""
    gone = plan.retract.get(asset.id, repo.Offer())
    plan.retracted_points += [caption_point_id(asset.content_hash, h) for h in gone.captions]
    payload = image_payload(asset, list(dict.fromkeys(m.dataset for m in remaining)))
    return payload.model_copy(update={"tags": [t for t in asset.tags if t not in gone.tags]})


def remove_points(store: VectorStore, plan: RemovalPlan) -> None:
    """Step 2: the doomed assets' points out of every version; survivors relabelled, and their
    retracted captions' points deleted."""
    hashes = sorted(h for h in plan.doomed.values() if h)
    for version in store.versions():
        for flt in content_filters(hashes):
            for kind in Kind:
                store.delete_where(kind, flt, version=version)
        if plan.retracted_points:
            store.delete(Kind.CAPTIONS, plan.retracted_points, version=version)
    relabel(store, plan.survivors, plan.survivor_versions)


def content_filters(hashes: Sequence[str]) -> Iterator[Filter]:
    """Filters naming the points of these images, a bounded number of hashes each."""
    for start in range(0, len(hashes), HASHES_PER_FILTER):
        chunk = list(hashes[start : start + HASHES_PER_FILTER])
        yield Filter(must=[MatchAny(field="content_hash", values=chunk)])


def remove_rows(*, session: Session, plan: RemovalPlan) -> None:
    """Step 3 (the caller's transaction): memberships and doomed assets out of the catalog."""
    repo.remove_members(session=session, member_ids=plan.member_ids)
    for asset_id, offer in plan.retract.items():
        repo.retract(session=session, asset_id=asset_id, offer=offer)
    ids = list(plan.doomed)
    for start in range(0, len(ids), 500):
        session.execute(delete(Asset).where(Asset.id.in_(ids[start : start + 500])))
    repo.refresh_primary(session=session, asset_ids=plan.survivors)
