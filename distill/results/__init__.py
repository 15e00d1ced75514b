"""From records to answers: the summary, the report, the plots and the statistics behind kd vs hard."""
