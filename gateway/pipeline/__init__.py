"""The DDM request pipeline, one small module per stage (see `ddm.py` for the order)."""
