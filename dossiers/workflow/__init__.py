"""The counter's and agencies' workflow: the status machine, dossier codes, the service calls, their read models, and the hooks the pipeline calls for a dossier's scans."""
