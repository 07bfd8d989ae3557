"""Every per-block verdict rule of the book, one module per claim (its chapter), re-exported here so that
``from lib.analysis.verdicts import ...`` reads them all: ``words`` (the status words, the role order),
``motivation`` (claim 1), ``sweep`` (claim 2), ``landscape`` (claim 3), ``sep`` (claim 4), ``curvature``
(claim 5), ``drivers`` (claim 6, SEP across methods, the fixed budget). The claim-level rule over model sets
is ``analysis.claims`` (re-exported: ``order_claim``, ``read_claim``, ``verdict_of``...) and each claim's one
answer ``analysis.set_claims``. The chapters and the findings page call these, never a copy."""

from lib.analysis.claims import NOT_REPRODUCED as NOT_REPRODUCED
from lib.analysis.claims import NOT_TESTED as NOT_TESTED
from lib.analysis.claims import PARTLY as PARTLY
from lib.analysis.claims import REPRODUCED as REPRODUCED
from lib.analysis.claims import VERDICTS as VERDICTS
from lib.analysis.claims import join_verdicts as join_verdicts
from lib.analysis.claims import order_claim as order_claim
from lib.analysis.claims import read_claim as read_claim
from lib.analysis.claims import verdict_of as verdict_of
from lib.analysis.stats import AGREES as AGREES
from lib.analysis.stats import DISAGREES as DISAGREES
from lib.analysis.stats import INCONCLUSIVE as INCONCLUSIVE
from lib.analysis.verdicts.curvature import CURVATURE_HALVES as CURVATURE_HALVES
from lib.analysis.verdicts.curvature import beta_dependence as beta_dependence
from lib.analysis.verdicts.curvature import curvature_by_role as curvature_by_role
from lib.analysis.verdicts.curvature import curvature_half as curvature_half
from lib.analysis.verdicts.curvature import curvature_status as curvature_status
from lib.analysis.verdicts.curvature import curvature_verdicts as curvature_verdicts
from lib.analysis.verdicts.curvature import moves_less as moves_less
from lib.analysis.verdicts.curvature import victim_arrays as victim_arrays
from lib.analysis.verdicts.drivers import CARRIED_BY_BOTH as CARRIED_BY_BOTH
from lib.analysis.verdicts.drivers import CARRIED_BY_DISTANCE as CARRIED_BY_DISTANCE
from lib.analysis.verdicts.drivers import CARRIED_BY_SCALE as CARRIED_BY_SCALE
from lib.analysis.verdicts.drivers import CARRIER_UNDECIDED as CARRIER_UNDECIDED
from lib.analysis.verdicts.drivers import DRIVER_VERDICTS as DRIVER_VERDICTS
from lib.analysis.verdicts.drivers import NO_CLEAR_REDUCTION as NO_CLEAR_REDUCTION
from lib.analysis.verdicts.drivers import NO_CLEAR_ROLE as NO_CLEAR_ROLE
from lib.analysis.verdicts.drivers import SHARPER_CLOSER as SHARPER_CLOSER
from lib.analysis.verdicts.drivers import SHARPER_FURTHER as SHARPER_FURTHER
from lib.analysis.verdicts.drivers import SHARPER_LESS as SHARPER_LESS
from lib.analysis.verdicts.drivers import SHARPER_MORE as SHARPER_MORE
from lib.analysis.verdicts.drivers import budget_agreement as budget_agreement
from lib.analysis.verdicts.drivers import cross_verdicts as cross_verdicts
from lib.analysis.verdicts.drivers import driver_verdict as driver_verdict
from lib.analysis.verdicts.drivers import flatness_role as flatness_role
from lib.analysis.verdicts.drivers import scale_carrier as scale_carrier
from lib.analysis.verdicts.drivers import start_loss_status as start_loss_status
from lib.analysis.verdicts.landscape import (
    LANDSCAPE_PART_COLUMNS as LANDSCAPE_PART_COLUMNS,
)
from lib.analysis.verdicts.landscape import ce_part_status as ce_part_status
from lib.analysis.verdicts.landscape import expl_part_status as expl_part_status
from lib.analysis.verdicts.landscape import landscape_parts as landscape_parts
from lib.analysis.verdicts.landscape import landscape_status as landscape_status
from lib.analysis.verdicts.landscape import reading_shares as reading_shares
from lib.analysis.verdicts.landscape import tracking_verdict as tracking_verdict
from lib.analysis.verdicts.motivation import BEATS_NOISE as BEATS_NOISE
from lib.analysis.verdicts.motivation import beats_noise as beats_noise
from lib.analysis.verdicts.motivation import motivation_status as motivation_status
from lib.analysis.verdicts.motivation import success_interval as success_interval
from lib.analysis.verdicts.sep import MAX_PGD_SPREAD_POINTS as MAX_PGD_SPREAD_POINTS
from lib.analysis.verdicts.sep import OLD_LF_GROWTH as OLD_LF_GROWTH
from lib.analysis.verdicts.sep import SPLIT_COLUMNS as SPLIT_COLUMNS
from lib.analysis.verdicts.sep import accuracy_shifts as accuracy_shifts
from lib.analysis.verdicts.sep import choice_against_test as choice_against_test
from lib.analysis.verdicts.sep import choose as choose
from lib.analysis.verdicts.sep import dropped_by_old_lf_rule as dropped_by_old_lf_rule
from lib.analysis.verdicts.sep import half_arrays as half_arrays
from lib.analysis.verdicts.sep import robustness_by_role as robustness_by_role
from lib.analysis.verdicts.sep import role_pairs as role_pairs
from lib.analysis.verdicts.sep import sep_block_status as sep_block_status
from lib.analysis.verdicts.sep import sep_order_holds as sep_order_holds
from lib.analysis.verdicts.sep import sep_order_verdicts as sep_order_verdicts
from lib.analysis.verdicts.sweep import MASKING_DROP as MASKING_DROP
from lib.analysis.verdicts.sweep import disagreements as disagreements
from lib.analysis.verdicts.sweep import masking_suspected as masking_suspected
from lib.analysis.verdicts.sweep import pgd_rises_with_beta as pgd_rises_with_beta
from lib.analysis.verdicts.sweep import validation_verdicts as validation_verdicts
from lib.analysis.verdicts.words import ROLE_ORDER as ROLE_ORDER
from lib.analysis.verdicts.words import STATUSES as STATUSES
from lib.analysis.verdicts.words import counts as counts
from lib.analysis.verdicts.words import sorted_by_role as sorted_by_role
from lib.analysis.verdicts.words import tally as tally
