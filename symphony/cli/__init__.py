"""The ``symphony`` command and :class:`SymphonyParser`, the base projects build their own CLI on.

Kept light on purpose: ``symphony p`` must answer in well under 150 ms, so this
package imports only argparse and Symphony's core at start-up; rich, YAML and the
backends' client libraries are imported when a verb needs them.
"""
