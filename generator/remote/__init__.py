"""Taking a change record to hosts over PowerShell Remoting: connect, run, plan, apply, verify, roll back.

connection.py maps the spec's connection settings onto pypsrp; runner.py runs one script as one
pipeline with a deadline; flow.py is one host's plan/apply/verify/rollback; fleet.py runs many hosts;
cli.py holds the click commands.
"""
