"""Custom properties of a PushedModel artifact, as the VersionedPusher records them.

The first three are the names TFX's own Pusher writes (its executor's
``_MarkPushed``), which this pusher reuses; the others are this project's. Light
on purpose: the TF-free readers (summary, lineage, report) import them.
"""

PUSHED = "pushed"  # 1 when the model went to the serving folder, 0 when not blessed
PUSHED_DESTINATION = "pushed_destination"  # the version folder
PUSHED_VERSION = "pushed_version"
# 1 when the model was already the newest version, so nothing new was written.
REUSED_EXISTING_VERSION = "reused_existing_version"
# Why a blessed model was not pushed (a pin), in words; absent when it was pushed or not blessed.
NOT_PUSHED_REASON = "not_pushed_reason"
# On a PushedModel that `models rollback` recorded (and in its push record):
# the version whose model it serves again.
ROLLED_BACK_TO = "rolled_back_to"
# On a PushedModel that `models bless` recorded (and in its push record): "USER: REASON".
BLESSED_BY = "manually_blessed_by"
