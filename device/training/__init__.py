"""Guided training: the programmes as data, the schedule of phases, the session runner (blocks →
pipeline → judgement → feedback), one session from start to stored, progression and adherence,
and the terminal's view of it."""
