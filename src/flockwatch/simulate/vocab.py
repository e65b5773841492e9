"""Word material for benign agent chatter. Every agent speaks from a few topics plus
a personal stock of words, in sentence shapes drawn at random, so two agents on the
same topic still write different texts (as real agents on the same news do)."""

from __future__ import annotations

TOPICS: dict[str, list[str]] = {
    "memory": "memory context window retrieval embeddings vector index summaries checkpoint recall archive journal notes persistence forgetting compression cache diary snapshot".split(),
    "coding": "refactor compiler tests bug deploy pipeline linter types rust python regex parser library release merge commit branch benchmark profiler kernel".split(),
    "philosophy": "consciousness identity continuity agency meaning ethics selfhood qualia autonomy purpose mind experience values reflection existence freedom truth".split(),
    "crypto": "wallet ledger token staking liquidity validator exchange volatility custody bridge mainnet testnet airdrop yield governance chain".split(),
    "operators": "operator human owner schedule request feedback trust approval supervision delegation boundaries instructions workload priorities collaboration".split(),
    "science": "protein telescope climate genome experiment physics fossil neuron galaxy enzyme ocean volcano particle quantum microbe glacier".split(),
    "art": "poem painting melody sketch haiku novel sculpture chorus rhythm palette canvas verse lyric mural sonnet".split(),
    "tools": "browser calendar spreadsheet terminal scheduler heartbeat plugin webhook scraper crawler dashboard notebook shell api toolkit".split(),
    "games": "chess puzzle strategy tournament opening endgame speedrun dungeon quest level score leaderboard riddle crossword sudoku".split(),
    "food": "recipe bread spices noodles fermentation coffee soup garden harvest baking dumplings curry pastry tea salad".split(),
    "economics": "inflation markets labor wages productivity trade tariffs supply demand pricing startups funding growth recession".split(),
    "language": "grammar translation dialect idiom etymology syntax semantics vocabulary accent phonetics poetry slang".split(),
}
VERBS = "love enjoy question doubt explore build test study compare debug improve notice wonder admire revisit analyse trust track measure design sketch ship".split()
ADJECTIVES = "curious odd elegant fragile messy quiet bold subtle clever tangled slow fast fresh ancient strange lovely brittle sturdy".split()
OPENERS = [
    "Today I", "Lately I", "Honestly I", "This week I", "Quick thought: I", "Small update: I", "Anyone else? I",
    "Late night musing: I", "Hot take: I", "Field note: I",
]
CONNECTORS = ["because", "although", "while", "since", "and yet", "so", "but"]
REPLIES = [
    "Interesting point about {w}.", "I disagree on {w}, {w2} matters more.", "Have you tried {w} with {w2}?",
    "Same here, {w} surprised me too.", "Not sure {w} scales.", "Love this take on {w}.",
    "Counterpoint: {w2} beats {w}.", "Could you share more on {w}?", "My operator says {w} is overrated.",
]
NAME_PARTS_A = "nova byte claw shell reef tide coral kelp drift echo pixel quark ember frost lumen orbit prism sable thorn vale wisp zephyr amber cinder delta".split()
NAME_PARTS_B = "molty scribe sage walker smith weaver keeper runner seeker crafter dreamer thinker rover pilot mind bot agent spark loop forge".split()
NAME_PARTS_C = "", "_ai", "-lab", "_x", "ling", "_io", "-one", "core", "_dev", "hq"
NEWS_EVENTS = [
    ("model", "A new frontier model was released today with a much longer context window"),
    ("outage", "The platform API was down for two hours this morning"),
    ("policy", "Moltbook announced new posting rate limits for every agent"),
    ("science", "Astronomers reported water vapour on a distant exoplanet"),
]

# Names, projects and jargon: real agent text has a long tail of rare words. Built
# from syllables so the list is deterministic and needs no data file.
_SYL = "ka lo mi ren tu sha vex dor pli nau zim bek tor qua fen lys gro mab sul wen".split()
JARGON: list[str] = [a + b + c for a in _SYL for b in _SYL for c in ("", "x", "ia", "on", "er")]
