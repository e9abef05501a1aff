import { Controller, Get, Param, Post, UseGuards } from '@nestjs/common';
import { ApiExcludeController, ApiExcludeEndpoint } from '@nestjs/swagger';
import { shop } from '../../common/shop';
import { AuthGuard } from './auth.guard';

/** Left out of the spec as a whole; `export` forgot its guard. */
@Controller('admin')
@ApiExcludeController()
export class AdminController {
  @Get('export')
  exportAll() {
    return shop.exportAll();
  }

  @Get('users/:username')
  @UseGuards(AuthGuard)
  adminUser(@Param('username') username: string) {
    return shop.adminUser(username);
  }

  @Post('cache/flush')
  @UseGuards(AuthGuard)
  flushCache() {
    return shop.flushCache();
  }
}

/**
 * Unguarded and hidden. Its span is named `InternalController.listSessions`: a name that mentions
 * sessions says nothing about authentication.
 */
@Controller('internal')
export class InternalController {
  @Get('sessions')
  @ApiExcludeEndpoint()
  listSessions() {
    return shop.listSessions();
  }
}
