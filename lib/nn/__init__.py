"""Networks and how they are trained against attacks: data, models, PGD, TRADES, model kinds."""
