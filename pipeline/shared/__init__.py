"""What every other part of pipeline/ may use: where a run's outputs go, and secrets kept out of them.

`layout.OutputLayout` owns every path under `paths.output` (and
`KubeflowStateLayout` the Kubeflow variant's state folder); `redaction` masks
secrets on their way to any file or the terminal; `gc_pace` sets the garbage
collector's pace in a process that loads TensorFlow to run or to score. This
package imports nothing else of pipeline/.
"""
