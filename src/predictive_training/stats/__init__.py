"""Statistics over seeds and the plan's decisions, from the experiment logs.

``tests`` (bootstrap intervals, one-sample and paired t tests, TOST, Bonferroni, the tests
table), ``rows`` (one test row per criterion of each experiment: ``stats/tests.csv``),
``decisions`` (milestones 1-5 and decisions 1-3 from the tests table).
"""
