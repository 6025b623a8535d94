"""What a Cost Explorer SERVICE and USAGE_TYPE say about Bedrock spend: the model, the token
kind, the service tier, batch, and how many tokens one unit of UsageQuantity is. Pure.

Grammar (provider reference section 3.1; the observed forms are third-party, UNVERIFIED):

    first-party   <REGION>-<Model>[-mantle]-<kind>[-<flag>...]
                  USE1-NovaPro-input-tokens, USE1-Claude3.5Sonnet-cache-read-input-token-count
    marketplace   <REGION>-MP:<REGION>_<Kind>[_<flag>...]-Units
                  USE1-MP:USE1_InputTokenCount_Global_Batch-Units,
                  APS3-MP:APS3_input_tokens_global_standard-Units
    provisioned   any usage type naming ProvisionedThroughput or ModelUnits (UNVERIFIED)

Flags: Global (global cross-region inference), Batch, and the tiers standard (the default,
stored as ""), flex and priority. Marketplace usage types do not name the model: it comes from
the SERVICE, "Claude Sonnet 4.5 (Amazon Bedrock Edition)" -> "Claude Sonnet 4.5".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

BEDROCK_SERVICE = "Amazon Bedrock"
MARKETPLACE_SUFFIX = " (Amazon Bedrock Edition)"
PROVISIONED_TIER = "provisioned"

# Tokens per unit of UsageQuantity. UNVERIFIED: first-party per thousand (the reference's
# NovaPro example prices out at list price that way), marketplace per million (one third-party
# tool's reading). Calibrate against CloudWatch token sums before trusting token counts;
# dollars do not depend on these.
FIRST_PARTY_SCALE = 1_000
MARKETPLACE_SCALE = 1_000_000

_REGION = re.compile(r"^(?P<region>[A-Z]{2,4}[0-9]+)-(?P<rest>.+)$")
_FIRST_PARTY = re.compile(
    r"^(?P<model>.+?)(?:-mantle)?-"
    r"(?P<kind>cache-read-input-token-count|cache-write-input-token-count"
    r"|input-tokens?|output-tokens?)"
    r"(?P<flags>(?:-[A-Za-z0-9]+)*)$",
    re.IGNORECASE,
)
_PROVISIONED = re.compile(r"provisioned-?throughput|model-?units?", re.IGNORECASE)
_TIERS = {"standard": "", "default": "", "flex": "flex", "priority": "priority"}


class TokenKind(StrEnum):
    INPUT = "input"  # uncached input
    OUTPUT = "output"
    CACHE_READ = "cache_read"
    CACHE_WRITE = "cache_write"


_FIRST_PARTY_KINDS = {
    "input-token": TokenKind.INPUT,
    "input-tokens": TokenKind.INPUT,
    "output-token": TokenKind.OUTPUT,
    "output-tokens": TokenKind.OUTPUT,
    "cache-read-input-token-count": TokenKind.CACHE_READ,
    "cache-write-input-token-count": TokenKind.CACHE_WRITE,
}
# marketplace kind words with "_" removed and lowercased, longest first
_MARKETPLACE_KINDS = (
    ("cachereadinputtokencount", TokenKind.CACHE_READ),
    ("cachereadinputtokens", TokenKind.CACHE_READ),
    ("cachewriteinputtokencount", TokenKind.CACHE_WRITE),
    ("cachewriteinputtokens", TokenKind.CACHE_WRITE),
    ("inputtokencount", TokenKind.INPUT),
    ("inputtokens", TokenKind.INPUT),
    ("outputtokencount", TokenKind.OUTPUT),
    ("outputtokens", TokenKind.OUTPUT),
)


@dataclass(frozen=True, slots=True)
class UsageType:
    """One decoded usage type. `kind` None: not a token charge (provisioned throughput,
    storage, anything unrecognised), kept with its dollars and no tokens."""

    region: str = ""
    model: str = ""  # from a first-party usage type; "" for marketplace ones
    kind: TokenKind | None = None
    tier: str = ""  # "", "flex", "priority" or "provisioned"
    batch: bool = False
    global_inference: bool = False
    marketplace: bool = False

    @property
    def scale(self) -> int:
        return MARKETPLACE_SCALE if self.marketplace else FIRST_PARTY_SCALE


def is_bedrock_service(service: str) -> bool:
    """Bedrock itself, or a third-party model sold through AWS Marketplace on Bedrock."""
    return service == BEDROCK_SERVICE or service.endswith(MARKETPLACE_SUFFIX)


def service_model(service: str) -> str:
    """The model a marketplace SERVICE names; "" for Amazon Bedrock itself."""
    return service.removesuffix(MARKETPLACE_SUFFIX) if service.endswith(MARKETPLACE_SUFFIX) else ""


def decode_usage_type(usage_type: str) -> UsageType:
    match = _REGION.match(usage_type)
    region, rest = (match["region"], match["rest"]) if match else ("", usage_type)
    if _PROVISIONED.search(rest):
        return UsageType(region, _provisioned_model(rest), None, PROVISIONED_TIER)
    if rest.startswith("MP:"):
        return _marketplace(region, rest.removeprefix("MP:"))
    found = _FIRST_PARTY.match(rest)
    if found is None:
        return UsageType(region)
    flags = [f.lower() for f in found["flags"].split("-") if f]
    kind = _FIRST_PARTY_KINDS[found["kind"].lower()]
    return _flagged(UsageType(region, found["model"], kind), flags)


def _marketplace(region: str, body: str) -> UsageType:
    body = body.removesuffix("-Units")
    if region and body.startswith(region + "_"):
        body = body[len(region) + 1 :]
    words = [w.lower() for w in body.split("_") if w]
    joined = "".join(words)
    for spelled, kind in _MARKETPLACE_KINDS:
        if joined.startswith(spelled):
            flags = _trailing_flags(words, spelled)
            return _flagged(UsageType(region, kind=kind, marketplace=True), flags)
    return UsageType(region, marketplace=True)


def _trailing_flags(words: list[str], spelled: str) -> list[str]:
    """The words after those that spell the kind."""
    taken = ""
    for index, word in enumerate(words):
        taken += word
        if taken == spelled:
            return words[index + 1 :]
    return []


def _flagged(decoded: UsageType, flags: list[str]) -> UsageType:
    tier = next((_TIERS[f] for f in flags if f in _TIERS), "")
    return UsageType(
        decoded.region,
        decoded.model,
        decoded.kind,
        tier,
        batch="batch" in flags,
        global_inference="global" in flags,
        marketplace=decoded.marketplace,
    )


def _provisioned_model(rest: str) -> str:
    parts = [p for p in re.split(r"[-:_]", rest) if p]
    kept = [
        p
        for p in parts
        if not _PROVISIONED.fullmatch(p) and p.lower() not in {"hours", "hrs", "mu", "units"}
    ]
    return "-".join(kept)
