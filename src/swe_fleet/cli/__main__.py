from swe_fleet.cli.main import app

app()
