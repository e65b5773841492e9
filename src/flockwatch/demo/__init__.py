"""`flockwatch demo`: the whole product on its embedded default, watched live."""
