from twisted.application.service import ServiceMaker

pubbot = ServiceMaker("pubbot", "pubbot.tap", "pubbot, the community chat bot", "pubbot")
